"""The one table of CSRec's config keys: name, default, accepted values, one line of help, and
what each key determines.

Everything else derives from it: the package's yaml (properties/overall.yaml, written by
`python run_scripts/write_keys.py --write`), config validation (`check_key`), the README's options
table (same command; a test checks both are current), the teacher-store key (`store` column),
CSRec-T's main-teacher key fields and the student's (`phases`), and the teacher kinds a search
would train identical trials for (`kinds`).

`store` says how a key reaches the teacher store's key of a phase:
- `hashed`: part of every phase's key through the config (it changes what any model learns or
  what its stored results are);
- `builder`: left out of the config hash; the builders of the phases in `phases` enter it
  explicitly (so that e.g. beta never splits the teachers);
- `when_set`: hashed only when set to something other than its default (keys added after teachers
  were stored, so that those keep their keys);
- `never`: not part of any key by itself (where files go, debugging, a diagnostics pass, or a
  count whose effect the phases' own keys carry, as num_teachers through the teachers' seeds).
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any, Callable

from recbole_csrec.errors import CSRecError
from recbole_csrec.model.noise import NORMALIZERS
from recbole_csrec.names import METHOD_NAMES

# --- accepted values: each rule checks one value and says what it accepts ------------------

Rule = Callable[[str, Any], None]


def flag(key: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise CSRecError(f"{key}={value!r} is not accepted: use True or False")


def integer_at_least(low: int) -> Rule:
    def rule(key: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise CSRecError(f"{key}={value!r} must be an integer >= {low}")
    return rule


def number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CSRecError(f"{key}={value!r} is not a number")
    return float(value)


def number_in(low: float, high: float | None, low_open: bool = False) -> Rule:
    """A number in [low, high] ((low, high] with low_open; no upper end with high None)."""
    def rule(key: str, value: Any) -> None:
        x = number(key, value)
        below = x <= low if low_open else x < low
        if high is None and below:
            raise CSRecError(f"{key}={value} must be > {low:g}" if low_open else f"{key}={value} must be >= {low:g}")
        if high is not None and (below or x > high):
            raise CSRecError(f"{key}={value} is outside {'(' if low_open else '['}{low:g}, {high:g}]")
    return rule


def one_of(*choices: str) -> Rule:
    def rule(key: str, value: Any) -> None:
        if value not in choices:
            raise CSRecError(f"{key}='{value}' is not accepted: use one of {', '.join(choices)}")
    rule.choices = choices  # type: ignore[attr-defined]
    return rule


def folder_or_none(key: str, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise CSRecError(f"{key}={value!r} is not accepted: use a folder path, or ~ for the default")
    if value is not None and os.path.exists(value) and not os.path.isdir(value):
        raise CSRecError(f"{key}='{value}' is a file: it must be a folder (or not exist yet)")


def checked_elsewhere(key: str, value: Any) -> None:
    """Checked where the value is used (preset files, the teacher registry, the model lookup)."""


# --- the table --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Key:
    name: str
    default: Any
    rule: Rule
    help: str
    store: str = "hashed"            # hashed | builder | when_set | never (module docstring)
    phases: frozenset[str] = frozenset()  # builder keys: the phases whose key fields hold it
    kinds: frozenset[str] | None = None   # teacher kinds that read it (None: all of them)
    section: str = ""

    def check(self, value: Any) -> None:
        self.rule(self.name, value)


CSRECT = frozenset({"training"})
ENSEMBLES = frozenset({"model", "data"})
WITH_SOFT_LABELS = frozenset({"pop", "model", "data", "training"})
STORE_KINDS = ("hashed", "builder", "when_set", "never")


def _teacher_keys() -> list[Key]:
    s = "Settings preset"
    keys = [Key("preset", "none", checked_elsewhere,
                "settings preset loaded under your files: `paper` = the paper's training settings "
                "(`properties/preset/paper/`), `none` = RecBole's defaults for every RecBole key "
                "(the built-in `ml` and `lastfm` set `paper`)", store="never", section=s)]
    s = "Teachers"
    keys += [
        Key("teacher", "none", checked_elsewhere,
            "`none` (Base, plain CE), `pop` (SoftRec), `model` (CSRec-M), `data` (CSRec-D), `training` (CSRec-T)",
            store="builder", phases=frozenset({"student"}), section=s),
        Key("teacher_model", None, checked_elsewhere,
            "teacher architecture; `~` uses the student's model (e.g. `SASRec` gives heterogeneous teachers)",
            store="never", section=s),  # it is the teachers' model: their config hash holds it
        Key("num_teachers", 2, integer_at_least(1),
            "m, teachers in the model-/data-level ensemble (seeds `seed+1..seed+m`)",
            store="never", kinds=ENSEMBLES, section=s),  # a teacher's key is its own seed
        Key("sample_ratio", 0.8, number_in(0.0, 1.0, low_open=True),
            "p, share of training sequences (whole users / windows) each data-level teacher and CSRec-T's "
            "side teacher sees", store="builder", phases=frozenset({"teacher", "side-teacher", "main-teacher"}),
            kinds=frozenset({"data", "training"}), section=s),
        Key("parallel_teachers", False, flag,
            "train independent teachers (model-/data-level) as Ray tasks when more than one worker (a GPU "
            "each, or a group of CPU cores each) is available; same weights as sequential training",
            store="never", kinds=ENSEMBLES, section=s),
        Key("ensemble", "logits", one_of("logits", "probs"),
            "`logits`: `e_u` = mean of teacher logits (Algorithm 1); `probs`: mean of `softmax(q_k/T)` "
            "(the authors' code)", store="builder", phases=frozenset({"student"}), kinds=ENSEMBLES, section=s),
    ]
    return keys


def _csrec_t_and_store_keys() -> list[Key]:
    s = "CSRec-T: main teacher g1, side teacher g2, noise model h"
    main = frozenset({"main-teacher"})
    keys = [
        Key("alpha", 0.5, number_in(0.0, 1.0),
            "in [0, 1]: `alpha*KL(P_g2 ‖ P_g1) + (1-alpha)*KL(P_g1 ‖ P_g2)` in the main teacher's loss (Eq. 12)",
            store="builder", phases=main, kinds=CSRECT, section=s),
        Key("noise_rank", 64, integer_at_least(1),
            "integer >= 1: rank r of the noise model `h = M N` (M: \\|I\\| x r, N: r x \\|I\\|)",
            store="builder", phases=main, kinds=CSRECT, section=s),
        Key("expectation_term", True, flag,
            "add `-sum_j P_g1(j\\|s) log h(i\\|j)`; `False` drops it and h (the paper's Fig. 7 ablation)",
            store="builder", phases=main, kinds=CSRECT, section=s),
        Key("noise_normalizer", "auto", one_of(*NORMALIZERS),
            "how `log h(i\\|j)` is normalised over i: `exact` (\\|I\\|²·r per step), `importance` (unbiased: "
            "K rows as a control variate + K columns drawn by P_g1, exactly normalised; ~4·\\|I\\|·K·r), "
            "`sampled` (K random rows, biased low), `auto` (exact up to `noise_exact_max_items`, importance "
            "above); see [docs/method.md](docs/method.md)", store="builder", phases=main, kinds=CSRECT, section=s),
        Key("noise_exact_max_items", 10000, integer_at_least(1),
            "integer >= 1: largest catalogue that `auto` normalises exactly",
            store="builder", phases=main, kinds=CSRECT, section=s),
        Key("noise_sample_size", 256, integer_at_least(1),
            "integer >= 1: K, rows (`sampled`) or rows and columns (`importance`) drawn per step",
            store="builder", phases=main, kinds=CSRECT, section=s),
    ]
    s = "Teacher store (reuse and resume)"
    keys += [
        Key("teacher_store", None, folder_or_none,
            "folder of trained teachers, shared by runs and search trials; `~` = `<checkpoint_dir>/teacher_store` "
            "(a search uses `<output>/teacher_store`). Entries: `<key>/weights.pth` (loads with "
            "`weights_only=True`) + `manifest.json`; a phase in training keeps its resume state in "
            "`.partial/<key>.pth`", store="never", section=s),
        Key("reuse_teachers", True, flag,
            "load a stored model whose key (dataset content, architecture and its training config, phase seed, "
            "objective, the `builder` keys of its phase) matches instead of training it; a Base run with seed s "
            "and CSRec-M's teacher seeded s are one entry (docs/tuning.md); a phase killed mid-way resumes "
            "from its last validated epoch (docs/usage.md); `False` always trains and stores nothing",
            store="never", section=s),
    ]
    return keys


def _student_keys() -> list[Key]:
    s = "Student"
    student = frozenset({"student"})
    keys = [
        Key("beta", 0.5, number_in(0.0, 1.0), "weight of the KL term, in [0, 1]: `(1-beta)*CE + beta*KL`",
            store="builder", phases=student, kinds=WITH_SOFT_LABELS, section=s),
        Key("temperature", 3.0, number_in(0.0, None, low_open=True), "T > 0 in `r = 0.5*(softmax(e_u/T) + onehot)`",
            store="builder", phases=student, kinds=WITH_SOFT_LABELS, section=s),
        Key("kl_direction", "forward", one_of("forward", "reverse"),
            "`forward`: KL(r ‖ P_f) (what produced the paper's numbers); `reverse`: KL(P_f ‖ r) (Eq. 15 as printed)",
            store="builder", phases=student, kinds=WITH_SOFT_LABELS, section=s),
    ]
    s = "Soft-label cache (teachers run once per training row, not once per batch)"
    keys += [
        Key("soft_label_cache_mb", 2048, number_in(0.0, None),
            "memory budget (MB, >= 0) of the soft-label cache: the frozen teachers run once per training row "
            "and their logits are stored in fp16; a table over the budget is written once to disk under the "
            "teacher store and memory-mapped (when `reuse_teachers` and the disk has room; shared by every "
            "student of those teachers); 0 = never cache (teachers on every batch)",
            store="builder", phases=student, kinds=WITH_SOFT_LABELS, section=s),
        Key("soft_label_topk", 0, integer_at_least(0),
            "when the exact cache exceeds the budget: K > 0 stores (instead of the disk cache) each row's top-K "
            "logits; 0 = the disk cache, or the teachers on every batch without a store; the log says which "
            "path runs and why", store="builder", phases=student, kinds=WITH_SOFT_LABELS, section=s),
    ]
    s = "Soft-label diagnostics"
    keys += [
        Key("diagnostics", True, flag,
            "after the teachers, one pass over the validation rows logs, writes to tensorboard and returns "
            "(`result[\"diagnostics\"]`) the soft-label diagnostics (accuracy, agreement, entropy, target and "
            "popularity mass); `False` skips it", store="never", kinds=WITH_SOFT_LABELS, section=s),
    ]
    return keys


def _evaluation_and_speed_keys() -> list[Key]:
    s = "Evaluation (Recall+/NDCG+, Eq. 16)"
    keys = [
        Key("rating_threshold", 4, number_in(float("-inf"), None),
            "delta of Recall+/NDCG+: only test rows whose raw target rating >= this count", section=s),
        Key("mask_input_items", False, flag,
            "evaluation: `True` scores every item of the input sequence `-inf` except the target before ranking, "
            "as the authors' code does; `False` is RecBole's full-sort evaluation, which masks nothing", section=s),
    ]
    s = "Speed"
    keys += [
        Key("detect_anomaly", False, flag,
            "autograd anomaly mode while training (`True` for debugging NaNs, 2-3.6x slower). RecBole 1.2.1 "
            "switches it on when its sequential models are imported; CSRec switches it off for its runs",
            store="never", section=s),
        Key("fused_output", True, flag,
            "the output layer (`seq_output @ item_embedding.T`) and the loss computed together in row blocks: "
            "the `[batch x items]` logits are never held (`recbole_csrec/model/output_layer.py`; same loss and "
            "gradients to float rounding); `False`: RecBole's matmul and CE", store="never", section=s),
        Key("compiled_loss", False, flag,
            "the student's fused block (forward KL) and the CSRec-T main teacher's CE/KL terms compiled by "
            "torch.compile into a few loops instead of ~12-15 passes over `[batch x items]`: 13-27% faster student "
            "steps at 20k-50k items, worth it for long runs on large catalogues (15-30 s to compile per process; "
            "needs a C++ compiler, else one warning and eager; Base and teachers unchanged; "
            "`recbole_csrec/model/compiled_blocks.py`)", store="never", section=s),
        Key("all_positions", False, flag,
            "causal models (GRU4Rec, SASRec, NextItNetLastItem): one forward pass per sequence, the loss over "
            "every training prefix of it, the same (prefix, target) rows per epoch as per-row training "
            "(`recbole_csrec/data/all_positions.py`)", store="when_set", section=s),
        Key("bf16", False, flag,
            "bf16 matmuls with fp32 softmax statistics and loss, on CPUs with `amx_bf16`/`avx512_bf16` or GPUs "
            "with bf16; elsewhere one log line and fp32 (`recbole_csrec/precision.py`). Turn it on for long runs on "
            "large catalogues on such hardware: converged lastfm rows equal fp32's within seed noise, the step is 10% "
            "faster at Yelp's 20k items and 6% at lastfm's 3.6k on an AMX CPU (memory-bound, not matmul-bound; "
            "docs/performance.md, section 3); keep it off for rows that must equal RecBole's", store="when_set", section=s),
    ]
    return keys


KEYS: tuple[Key, ...] = tuple(_teacher_keys() + _csrec_t_and_store_keys() + _student_keys()
                              + _evaluation_and_speed_keys())
BY_NAME: dict[str, Key] = {key.name: key for key in KEYS}
DEFAULTS: dict[str, Any] = {key.name: key.default for key in KEYS}

# --- what derives from the table ---------------------------------------------------------------


def unhashed_keys() -> frozenset[str]:
    """CSRec keys left out of the config hash of a teacher-store key."""
    return frozenset(k.name for k in KEYS if k.store in ("builder", "never"))


def keyed_only_when_set() -> dict[str, Any]:
    return {k.name: k.default for k in KEYS if k.store == "when_set"}


def phase_keys(phase: str) -> tuple[str, ...]:
    """Builder keys that the store key fields of `phase` hold (main-teacher, student, ...)."""
    return tuple(k.name for k in KEYS if phase in k.phases)


def ignored_by(kind: str) -> frozenset[str]:
    """Keys that teacher kind `kind` never reads (a search over them trains identical trials)."""
    return frozenset(k.name for k in KEYS if k.kinds is not None and kind not in k.kinds)


def check_key(name: str, value: Any) -> None:
    BY_NAME[name].check(value)


# --- the yaml and the README table, written from the table --------------------------------------

def _yaml_value(value: Any) -> str:
    if value is None:
        return "~"
    return str(value)


def overall_yaml() -> str:
    lines = ["# recbole_csrec defaults: CSRec's own keys only, so that every RecBole key resolves exactly as",
             "# RecBole resolves it. Loaded after RecBole's own yaml files and before the user's config files,",
             "# config_dict and --key=value arguments (which win).",
             "# Written by `python run_scripts/write_keys.py --write` from recbole_csrec/keys.py (the one table of",
             "# keys: accepted values and help are there and in the README's options table)."]
    section = None
    for key in KEYS:
        if key.section != section:
            section = key.section
            lines += ["", f"# --- {section} ---"]
        lines.append(f"{key.name}: {_yaml_value(key.default)}")
    return "\n".join(lines) + "\n"


def _markdown_default(value: Any) -> str:
    return f"`{_yaml_value(value)}`"


def options_table() -> str:
    rows = ["| key | default | meaning | determines |", "|---|---|---|---|"]
    for key in KEYS:
        scope = "" if key.kinds is None else " (" + ", ".join(
            METHOD_NAMES[k] for k in METHOD_NAMES if k in key.kinds) + ")"
        determines = {"hashed": "every phase's store key", "builder": ", ".join(sorted(key.phases)) + " store key",
                      "when_set": "every phase's store key, when set", "never": "no store key"}[key.store]
        rows.append(f"| `{key.name}` | {_markdown_default(key.default)} | {key.help}{scope} | {determines} |")
    return "\n".join(rows)


README_BEGIN = "<!-- options-table: written by python run_scripts/write_keys.py --write -->"
README_END = "<!-- end options-table -->"


def readme_with_table(readme: str) -> str:
    head, rest = readme.split(README_BEGIN)
    _, tail = rest.split(README_END)
    return f"{head}{README_BEGIN}\n{options_table()}\n{README_END}{tail}"


def main(argv: list[str] | None = None) -> int:
    from recbole_csrec.paths import PROPERTIES_DIR

    parser = argparse.ArgumentParser(prog="write_keys.py", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true",
                        help="rewrite properties/overall.yaml and the README's options table")
    args = parser.parse_args(argv)
    if not args.write:
        print(options_table())
        return 0
    readme = os.path.join(os.path.dirname(PROPERTIES_DIR), "README.md")
    for path, text in ((os.path.join(PROPERTIES_DIR, "overall.yaml"), overall_yaml()),
                       (readme, readme_with_table(open(readme).read()))):
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
        print(f"wrote {path}")
    return 0
