"""Third-party warnings that a run prints and that say nothing a user can act on, silenced narrowly:
by category and by the module they are raised from (RecBole's code calling pandas and torch APIs
that newer versions deprecate), never globally. Anything else still shows."""
from __future__ import annotations

import warnings

# (category, regex of the module the warning is attributed to, why)
KNOWN_WARNINGS = (
    # pandas: chained-assignment fillna(inplace=True) and Series.agg(len) in RecBole's dataset code
    (FutureWarning, r"recbole\.data\.dataset\."),
    # torch: torch.cuda.amp.GradScaler(...) is deprecated, called by RecBole's Trainer.__init__
    (FutureWarning, r"recbole\.trainer\.trainer"),
)


def silence_third_party_warnings() -> None:
    for category, module in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", category=category, module=module)
