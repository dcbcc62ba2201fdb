"""`--dry_run`: the resolved configuration (with where each non-default value came from) and
the plan of a run (phases, train or load from the teacher store, where weights go).

Reads the dataset folder and the teacher store, writes nothing.
"""
from __future__ import annotations

import os

from recbole_csrec.config import CSRecConfig

RUN_NAME = "{model}-{dataset}-{teacher}-<time>-<pid>"


def resolved_config_lines(config: CSRecConfig) -> list[str]:
    rows = sorted(config.non_default_values(), key=lambda r: (r[2], r[0]))
    width = max((len(key) for key, _, _ in rows), default=0)
    lines = [f"resolved configuration: {config['model']} on {config['dataset']}; values other "
             "than RecBole's defaults, and where they come from:"]
    lines += [f"  {key:<{width}} = {value!r:<24} ({source})" for key, value, source in rows]
    return lines


def _store_state(config: CSRecConfig, teacher_config: CSRecConfig, phase, dataset_ready: bool) -> tuple[str, str]:
    """(action, where its weights go) of one teacher phase."""
    from recbole_csrec.teachers.store import TeacherStore, default_store_path, teacher_key, teacher_key_fields

    run_dir = os.path.join(config["checkpoint_dir"], RUN_NAME.format(**{k: config[k] for k in
                                                                        ("model", "dataset", "teacher")}))
    own_file = os.path.join(run_dir, f"{phase.name}.pth")
    if not config["reuse_teachers"]:
        return "train (reuse_teachers is False: not stored)", own_file
    store = TeacherStore(default_store_path(config))
    if not dataset_ready:
        return ("train, unless the store holds it once the dataset is built",
                f"{own_file}, then published to {store.root}/<key>/")
    fields = teacher_key_fields(teacher_config, seed=phase.seed, extra=phase.store_fields,
                                objective=phase.objective)
    key = teacher_key(fields)
    entry = store.get(key)
    if entry is not None:
        return f"load from the teacher store (key {key[:12]})", entry.weights
    return (f"train, then publish to the teacher store (key {key[:12]})",
            f"{own_file} and {store.folder(key)}/weights.pth")


def dataset_sizes(config: CSRecConfig):
    """Sizes from the prepared dataset's manifest, or None before the dataset exists."""
    from recbole_csrec.data.protocol import read_manifest
    from recbole_csrec.estimates import Sizes

    manifest = read_manifest(config["data_path"])
    if manifest is None:
        return None
    stats = manifest["stats"]
    return Sizes(int(stats["train_rows"]), int(stats["valid_rows"]) + int(stats["test_rows"]),
                 int(stats["items"]), int(config["MAX_ITEM_LIST_LENGTH"]) + 1)


def soft_label_tables(config: CSRecConfig) -> int:
    single = config["ensemble"] == "logits" or config["teacher"] == "training"
    return 1 if single else int(config["num_teachers"])


def soft_label_plan(config: CSRecConfig, sizes) -> tuple[str | None, str]:
    """(path, line): where the student's soft labels will live (placement.plan_cache), from the
    prepared dataset's size, before anything is loaded."""
    from recbole_csrec.soft_labels.placement import plan_cache
    from recbole_csrec.teachers.store import default_store_path

    if sizes is None:
        return None, "path chosen when the dataset is loaded (no prepared-dataset manifest gives its size)"
    rows, n_items = sizes.train_rows, sizes.items + 1  # + padding id
    store = os.path.join(default_store_path(config), "soft_labels", "<teachers>.disk")
    path, reason = plan_cache(rows, n_items, soft_label_tables(config), float(config["soft_label_cache_mb"]),
                              int(config["soft_label_topk"] or 0), str(config["ensemble"]),
                              store if config["reuse_teachers"] else None)
    return path, f"{rows:,} training rows x {n_items:,} items -> {path} ({reason})"


def plan_lines(config: CSRecConfig, teacher_config: CSRecConfig) -> list[str]:
    from recbole_csrec.data.builtin import dataset_status
    from recbole_csrec.names import method_name
    from recbole_csrec.teachers.plan import planned_teacher_phases

    status = dataset_status(config)  # raises CSRecError for an unknown dataset
    ready = "will be built" not in status
    run_dir = os.path.join(config["checkpoint_dir"], RUN_NAME.format(**{k: config[k] for k in
                                                                        ("model", "dataset", "teacher")}))
    lines = [f"plan: {method_name(config['teacher'])} ({config['teacher']}) with student "
             f"{config['model']}", f"  dataset: {status}"]
    phases = planned_teacher_phases(config)
    if config["teacher"] == "pop":
        lines.append("  teacher: item popularity of the training data (nothing to train)")
    for number, phase in enumerate(phases, 1):
        action, weights = _store_state(config, teacher_config, phase, ready)
        lines.append(f"  {number}. {phase.name}: {teacher_config['model']}, seed {phase.seed}, "
                     f"{phase.note}; {teacher_config['epochs']} epochs at most -> {action}")
        lines.append(f"     weights: {weights}")
    sizes = dataset_sizes(config)
    path, plan = soft_label_plan(config, sizes)
    if phases:
        lines.append(f"  soft labels: {plan}")
    student = len(phases) + 1
    lines += _estimate_lines(config, sizes, path if phases else None, student)
    if config["teacher"] == "none":
        # Base is a plain model: a teacher-store entry like CSRec-M's teacher with the same seed.
        from recbole_csrec.teachers.plan import PlannedPhase

        action, weights = _store_state(config, config, PlannedPhase("student", int(config["seed"])), ready)
        lines.append(f"  {student}. student: {config['model']}, seed {config['seed']}, plain CE; "
                     f"{config['epochs']} epochs at most -> {action}")
        lines.append(f"     weights: {weights}")
        return lines + _log_lines(config)
    lines.append(f"  {student}. student: {config['model']}, seed {config['seed']}, "
                 f"(1-beta)*CE + beta*KL with beta {config['beta']}, T {config['temperature']}"
                 f"; {config['epochs']} epochs at most -> train")
    lines.append(f"     weights: {os.path.join(run_dir, 'student.pth')}")
    return lines + _log_lines(config)


def _estimate_lines(config: CSRecConfig, sizes, path: str | None, phases: int) -> list[str]:
    from recbole_csrec.estimates import estimate_lines

    if sizes is None:
        return ["  estimates: made once the dataset is built (no prepared-dataset manifest gives its size)"]
    return estimate_lines(config, sizes, path or "", soft_label_tables(config), phases)


def _log_lines(config: CSRecConfig) -> list[str]:
    return [f"  logs: log/ and log_tensorboard/; results: validation ({config['valid_metric']}) "
            "and test metrics of every phase"]


def dry_run_report(config: CSRecConfig, teacher_config: CSRecConfig) -> str:
    lines = resolved_config_lines(config)
    if teacher_config is not config:
        lines.append(f"teacher architecture {teacher_config['model']} (teacher_model)")
    lines += plan_lines(config, teacher_config)
    lines.append("dry run: everything checked, nothing written")
    return "\n".join(lines)


