import sys

try:
    from bardbot.trainer.cli import main
except ModuleNotFoundError as exc:  # tqdm, gensim, ...: not in the runtime install
    sys.exit(f"error: the trainer needs the train extra ({exc.name} is missing): "
             "pip install -e '.[train]'")

sys.exit(main())
