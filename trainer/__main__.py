import sys

from bardbot.trainer.cli import main

sys.exit(main())
