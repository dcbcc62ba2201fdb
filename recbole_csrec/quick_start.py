"""run_recbole_csrec: one experiment (teachers, then the student), like RecBole's run_recbole."""
from __future__ import annotations

import os
import shlex
from logging import getLogger
from typing import Any, Sequence

from recbole.data import create_dataset, data_preparation
from recbole.utils import get_local_time, init_seed, set_color

from recbole_csrec.anomaly import anomaly_mode
from recbole_csrec.config import CSRecConfig, effective_setup, preset_description
from recbole_csrec.data import ensure_dataset_files, reseed_loader
from recbole_csrec.model import CSRecStudent
from recbole_csrec.names import method_name
from recbole_csrec.phase_table import phase_table
from recbole_csrec.quiet import silence_third_party_warnings
from recbole_csrec.run_logger import init_logger
from recbole_csrec.soft_labels import cache_soft_labels
from recbole_csrec.soft_labels.diagnostics import diagnose_teachers
from recbole_csrec.teachers import TEACHERS, TeacherContext
from recbole_csrec.teachers.train_or_load import train_or_load
from recbole_csrec.teachers.store import teacher_key_fields
from recbole_csrec.threads import use_allowed_cores
from recbole_csrec.trainer import CSRecTrainer, PhaseResult
from recbole_csrec.keys import phase_keys
from recbole_csrec.lookups import get_model
from recbole_csrec.overrides import check_known_keys, parse_overrides, recbole_argv, typed_command
from recbole_csrec.saved_runs import load_data_and_model  # noqa: F401  (RecBole's place for it)


def build_configs(model: str | None = None, dataset: str | None = None, teacher: str | None = None,
                  config_file_list: list[str] | None = None,
                  config_dict: dict[str, Any] | None = None,
                  config_dict_source: str = "config_dict") -> tuple[CSRecConfig, CSRecConfig]:
    """The student's config and the teacher architecture's config (the same object by default).

    Raises CSRecError on bad input, before anything is written. `config_dict_source` names
    where config_dict came from in a dry run's listing.
    """
    config_dict = dict(config_dict or {})
    if teacher is not None:
        config_dict["teacher"] = teacher
    config = CSRecConfig(model=model, dataset=dataset, config_file_list=config_file_list,
                         config_dict=config_dict, config_dict_source=config_dict_source)
    teacher_model = config["teacher_model"]
    if teacher_model is None or teacher_model == config["model"]:
        return config, config
    teacher_dict = {k: v for k, v in config_dict.items() if k != "model"}
    teacher_config = CSRecConfig(model=teacher_model, dataset=config["dataset"],
                                 config_file_list=config_file_list, config_dict=teacher_dict)
    return config, teacher_config


def check_command_line(model: str, dataset: str, config_files: Sequence[str] | None,
                       args: Sequence[str], config_dict: dict[str, Any] | None = None) -> None:
    """Everything a run with these `--key=value` arguments would check first, and that every
    key is known (for commands that hand the same arguments to many runs)."""
    overrides = parse_overrides(args)
    with recbole_argv(args):
        config, teacher_config = build_configs(model, dataset, None, list(config_files or []) or None,
                                               config_dict)
    check_known_keys(overrides, config.known_keys() | teacher_config.known_keys())


def run_recbole_csrec(model: str | None = None, dataset: str | None = None, teacher: str | None = None,
                      config_file_list: list[str] | None = None,
                      config_dict: dict[str, Any] | None = None, saved: bool = True,
                      per_user: bool = False,
                      trainer_class: type[CSRecTrainer] = CSRecTrainer,
                      evaluate_test: bool = True) -> dict[str, Any]:
    """Train the teacher phases, then the student; evaluate each on validation and test.

    `trainer_class` trains the student (a CSRecTrainer subclass, e.g. one reporting to Ray
    Tune); `evaluate_test=False` leaves the student's test result empty, so a search never
    sees the test set.

    Returns RecBole's keys for the student (`best_valid_score`, `valid_score_bigger`,
    `best_valid_result`, `test_result`) plus `teacher`, `method`, `run_dir` and `phases`:
    for each phase its best validation result, test result, epochs, seconds and weight file;
    `diagnostics`: the soft-label diagnostics (recbole_csrec/soft_labels/diagnostics.py), a
    flat dict of floats, empty for Base or with `diagnostics: False`.
    With `per_user=True` also `per_user`: the student's rank of each test row's target
    (a DataFrame, see recbole_csrec.evaluation), for paired tests and analyses.
    """
    config, teacher_config = build_configs(model, dataset, teacher, config_file_list, config_dict)
    use_allowed_cores()
    silence_third_party_warnings()
    with anomaly_mode(config["detect_anomaly"]):
        return _run(config, teacher_config, saved, per_user, trainer_class, evaluate_test)


def _setup_run(config: CSRecConfig, teacher_config: CSRecConfig, saved: bool) -> TeacherContext:
    """Run setup, once: the dataset files, seeds, the logger and what it says first, the data."""
    ensure_dataset_files(config)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    logger = getLogger()
    logger.info(f"command: {shlex.join(typed_command())}")
    logger.info(config)
    logger.info(effective_setup(config))
    logger.info(preset_description(config))
    full_dataset = create_dataset(config)
    logger.info(full_dataset)
    train_data, valid_data, test_data = data_preparation(config, full_dataset)
    run_name = f"{config['model']}-{config['dataset']}-{config['teacher']}-{get_local_time()}-{os.getpid()}"
    return TeacherContext(config=config, teacher_config=teacher_config, dataset=full_dataset,
                          train_data=train_data, valid_data=valid_data, test_data=test_data,
                          run_dir=os.path.join(config["checkpoint_dir"], run_name),
                          saved=saved, show_progress=config["show_progress"])


def _run(config: CSRecConfig, teacher_config: CSRecConfig, saved: bool, per_user: bool,
         trainer_class: type[CSRecTrainer], evaluate_test: bool) -> dict[str, Any]:
    ctx = _setup_run(config, teacher_config, saved)
    logger, train_data, run_dir = getLogger(), ctx.train_data, ctx.run_dir

    soft_labels = TEACHERS[config["teacher"]](ctx)
    # What the frozen teachers teach (validation rows); the student starts from init_seed below,
    # so this pass changes none of its numbers.
    diagnostics = diagnose_teachers(ctx, soft_labels) if config["diagnostics"] else {}
    # Teachers are frozen: compute their outputs once per training row when the budget allows.
    soft_labels = cache_soft_labels(soft_labels, config, train_data, ctx.soft_label_cache_file())

    seed = int(config["seed"])
    init_seed(seed, config["reproducibility"])
    backbone = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    logger.info(set_color("CSRec phase [student]", "yellow")
                + f": {config['model']} with {method_name(config['teacher'])}")
    if soft_labels is None and ctx.store is not None and trainer_class is CSRecTrainer and evaluate_test:
        trainer, student_result = _base_from_store(ctx, backbone, seed)
    else:
        student = CSRecStudent(config, train_data._dataset, backbone, soft_labels)
        logger.info(student)
        trainer, student_result = _student_from_store(ctx, student, seed, trainer_class, evaluate_test)
    phases = ctx.phases + [student_result]

    logger.info(set_color("best valid ", "yellow") + f": {student_result.best_valid_result}")
    logger.info(set_color("test result", "yellow") + f": {student_result.test_result}")
    logger.info("CSRec summary (" + method_name(config["teacher"]) + ")\n"
                + phase_table(phases, config["valid_metric"]))
    result = {
        "best_valid_score": student_result.best_valid_score,
        "valid_score_bigger": config["valid_metric_bigger"],
        "best_valid_result": student_result.best_valid_result,
        "test_result": student_result.test_result,
        "teacher": config["teacher"],
        "method": method_name(config["teacher"]),
        "run_dir": run_dir if saved else "",
        "phases": {p.name: p.as_dict() for p in phases},
        "epoch_cap": int(config["epochs"]),
        "diagnostics": diagnostics,
    }
    if per_user:
        from recbole_csrec.evaluation import per_user_ranks

        result["per_user"] = per_user_ranks(trainer, ctx.test_data, train_data)
    return result


def _base_from_store(ctx: TeacherContext, backbone, seed: int) -> tuple[CSRecTrainer, PhaseResult]:
    """Base through the teacher store: a Base run with seed s is the same model as every plain
    phase with seed s on the full training data (e.g. CSRec-M's teacher seeded s), so it is
    trained once and found by both. Training the bare backbone is what CSRecStudent does
    without soft labels (tests/test_store_by_model.py checks that the weights are equal)."""
    config = ctx.config
    model, trainer = ctx.train_phase("student", backbone, ctx.train_data, seed, phase_config=config,
                                     keep_valid_scores_mb=0)
    result = ctx.phases.pop()  # the student is not a teacher phase
    if trainer is None:  # loaded from the store: a trainer to evaluate it (per-user ranks)
        trainer = CSRecTrainer(config, model, phase="student",
                               weights_file=os.path.join(ctx.run_dir, "student.pth"), write_files=False)
    return trainer, result


def _train_student(ctx: TeacherContext, student: CSRecStudent, seed: int,
                   trainer_class: type[CSRecTrainer], evaluate_test: bool,
                   resume_file: str | None = None) -> tuple[CSRecTrainer, PhaseResult]:
    config = ctx.config
    reseed_loader(ctx.train_data, seed)
    trainer = trainer_class(config, student, phase="student", resume_file=resume_file,
                            weights_file=os.path.join(ctx.run_dir, "student.pth"), write_files=ctx.saved)
    trainer.fit(ctx.train_data, ctx.valid_data, saved=ctx.saved, show_progress=config["show_progress"])
    result = trainer.phase_result()
    if evaluate_test:
        result.test_result = trainer.evaluate(ctx.test_data, load_best_model=False,
                                              show_progress=config["show_progress"])
    return trainer, result


def _student_from_store(ctx: TeacherContext, student: CSRecStudent, seed: int,
                        trainer_class: type[CSRecTrainer], evaluate_test: bool) -> tuple[CSRecTrainer, PhaseResult]:
    """A CSRec student through the teacher store: the same backbone config and seed, the same
    stored teachers and the same student keys make the same model, so e.g. the benchmark's
    CSRec-M run at the searched point loads the search trial that trained it; SoftRec's student is
    keyed by its fixed teacher's kind (student_key_fields). Through the store, a student cut off
    mid-way resumes. A student whose teachers are not all store entries (reuse off) is trained as
    usual."""
    fields = student_key_fields(ctx)
    if fields is None or ctx.store is None:
        return _train_student(ctx, student, seed, trainer_class, evaluate_test)
    phase = train_or_load(ctx.store, fields, lambda: student,
                          lambda model, resume_file: _train_student(ctx, model, seed, trainer_class,
                                                                    evaluate_test, resume_file),
                          ctx.config, "student", seed, label=f"{method_name(ctx.config['teacher'])} student",
                          with_test=False)
    if not phase.reused:
        return phase.trainer, phase.result
    trainer = CSRecTrainer(ctx.config, student, phase="student",
                           weights_file=os.path.join(ctx.run_dir, "student.pth"), write_files=False)
    if evaluate_test:  # evaluated here: a search trial that trained it never saw the test set
        phase.result.test_result = trainer.evaluate(ctx.test_data, load_best_model=False,
                                                    show_progress=ctx.config["show_progress"])
    return trainer, phase.result


# Student keys that shape its weights beyond the backbone's config and seed (the teachers enter
# through their own store keys). The cache budget and top-K choose how the soft labels are held
# (exact fp16 cache, top-K, or on the fly), which changes their numerics.
STUDENT_KEYS = phase_keys("student")


def student_key_fields(ctx: TeacherContext) -> dict[str, Any] | None:
    """The store key fields of this run's student, or None when a teacher phase has no store key.
    A teacher with no phase (SoftRec's popularity vector) is fixed by the training data, which the
    key holds (dataset content, split settings): its kind stands for it."""
    keys = [phase.meta.get("store_key") for phase in ctx.phases] or [f"fixed teacher: {ctx.config['teacher']}"]
    if not all(keys):
        return None
    extra = {key: ctx.config[key] for key in STUDENT_KEYS}
    extra["teachers"] = keys
    return teacher_key_fields(ctx.config, seed=int(ctx.config["seed"]), extra=extra, objective="csrec-student")
