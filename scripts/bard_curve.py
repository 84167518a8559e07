"""The bard's size curve: held-out loss vs parameters vs training minutes, from finished runs.

    python scripts/bard_curve.py runs/sweep/u256x1 runs/sweep/u512x1 runs/sweep/u384x2 runs/bard

Each run folder holds meta.json (with metrics.evals) from `python -m bardbot.trainer bard`.
Prints one markdown row per run: its size, speed and the best held-out loss reached by each
budget of minutes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

BUDGETS = (1, 2, 4, 15, 30, 58)


def best_by(evals: list[dict], minutes: float) -> str:
    seen = [e["heldout_loss"] for e in evals if e["minutes"] <= minutes]
    return f"{min(seen):.3f}" if seen else ""


def main(runs: list[str]) -> None:
    head = "| run | layers x units | params | steps/min | " + " | ".join(
        f"≤{b} min" for b in BUDGETS) + " | best (minutes) |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for run in runs:
        meta = json.loads((Path(run) / "meta.json").read_text(encoding="utf-8"))
        m, evals = meta["metrics"], meta["metrics"]["evals"]
        best = min(evals, key=lambda e: e["heldout_loss"])
        cells = [Path(run).name, f"{meta['layers']} x {meta['units']}",
                 f"{meta['params']['total']:,}", f"{m['steps'] / m['train_minutes']:.0f}",
                 *[best_by(evals, b) if b <= m["train_minutes"] + 0.5 else ""
                   for b in BUDGETS],
                 f"{best['heldout_loss']:.3f} ({best['minutes']:.0f})"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
