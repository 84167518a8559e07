"""The bard's training budget: --max-steps (the same run however fast the machine) or
--max-minutes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bardbot.trainer.bard import learning_rate, out_of_budget
from bardbot.trainer.config import BardConfig
from bardbot.trainer.runs import UserError


def test_with_max_steps_the_schedule_and_the_stop_follow_steps_not_seconds():
    cfg = BardConfig(out=Path("x"), learning_rate=1e-2, max_steps=100, max_minutes=1.0)
    for seconds in (0.0, 30.0, 59.0):  # how busy the machine was changes nothing
        assert learning_rate(cfg, 0, seconds) == pytest.approx(1e-2)
        assert learning_rate(cfg, 50, seconds) == pytest.approx(1e-2 * 0.55)
        assert learning_rate(cfg, 100, seconds) == pytest.approx(1e-3)
        assert out_of_budget(cfg, 99, seconds) == ""
        assert out_of_budget(cfg, 100, seconds) == "100 steps"
    # The time budget still guards a step-bounded run.
    assert out_of_budget(cfg, 10, 60.0) == "time budget of 1.0 minutes"


def test_without_max_steps_the_time_budget_rules_as_before():
    cfg = BardConfig(out=Path("x"), learning_rate=1e-2, max_minutes=1.0)
    assert learning_rate(cfg, 10_000, 0.0) == pytest.approx(1e-2)
    assert learning_rate(cfg, 0, 30.0) == pytest.approx(1e-2 * 0.55)
    assert learning_rate(cfg, 0, 90.0) == pytest.approx(1e-3)
    assert out_of_budget(cfg, 10**9, 59.9) == ""
    assert out_of_budget(cfg, 1, 60.0) == "time budget of 1.0 minutes"


def test_a_negative_max_steps_is_a_clear_error():
    with pytest.raises(UserError, match="--max-steps must be 0"):
        BardConfig(out=Path("x"), max_steps=-1).validate()


def test_max_steps_from_the_command_line(tmp_path):
    from bardbot.trainer.cli import main

    from tests.export.test_bard import SCRIPT

    text = tmp_path / "tiny.txt"
    text.write_text(SCRIPT * 30, encoding="utf-8")
    run = tmp_path / "run"
    assert main(["bard", "--text", str(text), "--out", str(run), "--units", "8", "--embed", "4",
                 "--batch-size", "4", "--seq", "20", "--max-steps", "3", "--eval-every", "10",
                 "--sample-length", "5", "--quiet"]) == 0
    meta = json.loads((run / "meta.json").read_text(encoding="utf-8"))
    assert (meta["metrics"]["steps"], meta["metrics"]["stopped"]) == (3, "3 steps")
    assert meta["training"]["max_steps"] == 3


def test_a_second_run_in_one_process_keeps_tensorflows_threads(capsys):
    import tensorflow as tf
    from bardbot.trainer import fit

    fit.limit_threads(1)
    tf.constant([1.0]) + 1.0  # TF is initialised now: its threads are fixed for the process
    kept = tf.config.threading.get_intra_op_parallelism_threads()
    fit.limit_threads(kept + 1)
    assert "applies to a new process" in capsys.readouterr().out
    fit.limit_threads(kept)  # the same value again: nothing to say
    assert capsys.readouterr().out == ""
