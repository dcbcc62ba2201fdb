"""The end-of-run table: one row per phase with its validation and test metrics."""
from __future__ import annotations

from typing import Iterable

from recbole_csrec.trainer import PhaseResult


def phase_table(phases: Iterable[PhaseResult], valid_metric: str) -> str:
    phases = list(phases)
    test_keys: list[str] = []
    for phase in phases:
        for key in (phase.test_result or {}):
            if key not in test_keys:
                test_keys.append(key)
    header = ["phase", "model", "epochs", "best", "seconds", f"valid {valid_metric}"] + \
             [f"test {k}" for k in test_keys]
    rows = [header]
    for p in phases:
        rows.append([p.name, p.model, str(p.epochs), str(p.best_epoch), f"{p.seconds:.1f}",
                     f"{p.best_valid_score:.4f}"]
                    + [f"{(p.test_result or {}).get(k, float('nan')):.4f}" for k in test_keys])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
