"""The trial tables kept current while a search runs: each finished trial rewrites trials.csv and
trials.md (beside the carried rows), so that a search killed outright, e.g. with the session that
ran it, still leaves its finished trials for `--trials_from`. The final tables replace these."""
from __future__ import annotations

import os
from typing import Any

import pandas as pd
from ray.tune import Callback

from recbole_csrec.tune.carried import point_params
from recbole_csrec.tune.space import SearchSpace
from recbole_csrec.tune.trials import trial_row, with_carried, write_tables


class FinishedTrialsTable(Callback):
    """A Ray Tune callback; epochs are kept from the trials' own reports (no log files read)."""

    def __init__(self, output: str, space: SearchSpace, bigger: bool, valid_metric: str,
                 carried: list[dict[str, Any]]):
        self.output, self.space, self.bigger, self.valid_metric = output, space, bigger, valid_metric
        self.carried = carried
        self._epochs: dict[str, dict[int, dict[str, Any]]] = {}
        self._finished: dict[str, dict[str, Any]] = {}

    def on_trial_result(self, iteration: int, trials: list, trial, result: dict, **info) -> None:
        if "valid_score" not in result:
            return
        kept = {k: v for k, v in result.items() if k in ("valid_score", "epoch", "weights") or "@" in k}
        # keyed by epoch: Ray's closing result repeats the last report
        self._epochs.setdefault(trial.trial_id, {})[int(result["epoch"])] = kept

    def on_trial_complete(self, iteration: int, trials: list, trial, **info) -> None:
        epochs = self._epochs.get(trial.trial_id, {})
        frame = pd.DataFrame([epochs[e] for e in sorted(epochs)]) if epochs else None
        name = os.path.basename(str(getattr(trial, "local_path", None) or trial))
        self._finished[trial.trial_id] = trial_row(name, point_params(trial.config), frame, self.space,
                                                   self.bigger, "ok")
        rows = with_carried(list(self._finished.values()), self.carried, self.space, self.bigger)
        write_tables(rows, self.output, self.valid_metric)
