import json
from dataclasses import dataclass

import pytest
from bardbot.trainer import runs


@dataclass
class Cfg:
    seed: int = 7
    command: str = "python -m bardbot.trainer bard --seed 7"


class Model:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def save(self, path) -> None:
        if self.fail:
            raise OSError("disk full")
        path.write_text("weights")


def test_save_run_writes_meta_json_last_with_what_every_run_records(tmp_path):
    (tmp_path / "meta.json").write_text('{"stale": true}')
    seen = []

    def extras() -> None:  # the model is saved and no stale meta.json vouches for it
        seen.append(((tmp_path / "model.keras").read_text(), (tmp_path / "meta.json").exists()))

    meta = runs.save_run(tmp_path, Model(), {"kind": "bard"}, Cfg(), 0.0, extras)
    assert seen == [("weights", False)]
    assert json.loads((tmp_path / "meta.json").read_text()) == meta
    assert meta["kind"] == "bard" and meta["seed"] == 7 and meta["command"] == Cfg.command
    assert {"versions", "wall_seconds", "peak_rss_mb"} <= meta.keys()


def test_a_run_that_fails_while_saving_is_left_unfinished(tmp_path):
    (tmp_path / "meta.json").write_text('{"stale": true}')
    with pytest.raises(OSError, match="disk full"):
        runs.save_run(tmp_path, Model(fail=True), {}, Cfg(), 0.0)
    assert not (tmp_path / "meta.json").exists()
