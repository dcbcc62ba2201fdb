"""run_hyper_csrec: a Ray Tune search over CSRec/RecBole keys, selected on validation only.

Local `ray.init` by default; `address` connects to a running cluster (its workers need this
package installed, and `teacher_store` / `output` must be on storage they all share).
"""
from __future__ import annotations

import json
import math
import os
from logging import getLogger
from time import time
from typing import Any

import yaml

from recbole_csrec.ray_session import start_ray
from recbole_csrec.atomic import write_atomic
from recbole_csrec.errors import CSRecError
from recbole_csrec.tune.carried import (POINT_KEY, SEARCH_FILE, carried_line, file_digests, load_carried,
                                        remaining_points)
from recbole_csrec.tune.space import SearchSpace, check_space, load_search_space
from recbole_csrec.tune.trials import trial_rows, with_carried, write_tables

SCHEDULERS = ("fifo", "asha")


def _build(model, dataset, teacher, config_file_list, config_dict, source: str = "config_dict"):
    from recbole_csrec.overrides import recbole_argv
    from recbole_csrec.quick_start import build_configs

    # The search's own flags (or a Ray worker's) must not become config keys: RecBole sees none.
    with recbole_argv():
        return build_configs(model, dataset, teacher, config_file_list, config_dict,
                             config_dict_source=source)


def _fixed_settings(config, fixed: dict[str, Any], output: str) -> dict[str, Any]:
    """The settings every trial gets; paths made absolute (trials run in their own folders)."""
    settings = dict(fixed)
    settings["data_path"] = os.path.dirname(os.path.normpath(os.path.abspath(config["data_path"])))
    settings["checkpoint_dir"] = os.path.join(output, "trials")
    store = config["teacher_store"] or os.path.join(output, "teacher_store")
    settings["teacher_store"] = os.path.abspath(store)
    settings.setdefault("show_progress", False)
    return settings


def _make_scheduler(name: str, max_t: int):
    if name == "fifo":
        return None
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(time_attr="training_iteration", max_t=max(1, max_t), grace_period=1)


def _search_identity(model: str, dataset: str, teacher: str, config_file_list: list[str] | None,
                     space: SearchSpace, settings: dict[str, Any], num_samples: int,
                     scheduler: str) -> dict[str, Any]:
    """What makes two searches the same search: --resume continues only an identical one."""
    identity = {"model": model, "dataset": dataset, "teacher": teacher,
                "config_files": config_file_list or [], "config_file_sha256": file_digests(config_file_list),
                "grid": space.grid, "sampled": space.sampled,
                "fixed": settings, "num_samples": num_samples, "scheduler": scheduler}
    return json.loads(json.dumps(identity, sort_keys=True, default=str))  # as it reads back


def _check_same_search(output: str, identity: dict[str, Any]) -> None:
    path = os.path.join(output, SEARCH_FILE)
    if not os.path.isfile(path):
        getLogger().warning(f"resume: {path} is missing (a search started before it was written): "
                            f"cannot check that the interrupted search is this one")
        return
    with open(path) as handle:
        stored = json.load(handle)
    keys = set(stored) | set(identity)
    if "config_file_sha256" not in stored:  # a search started before digests were recorded
        keys.discard("config_file_sha256")
    differ = sorted(k for k in keys if stored.get(k) != identity.get(k))
    if differ:
        raise CSRecError(f"cannot resume: {output} holds a different search (it differs in "
                         f"{', '.join(differ)}); rerun without --resume or with another --output")


def evaluate_student(model: str, dataset: str, teacher: str | None,
                     config_file_list: list[str] | None, config_dict: dict[str, Any],
                     weights: str) -> dict[str, float]:
    """Test result of a trained student's weight file (its backbone), on the same split."""
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import init_seed

    from recbole_csrec.checkpoint import load_into
    from recbole_csrec.trainer import CSRecTrainer
    from recbole_csrec.lookups import get_model

    config, _ = _build(model, dataset, teacher, config_file_list, config_dict)
    init_seed(config["seed"], config["reproducibility"])
    full = create_dataset(config)
    train_data, _, test_data = data_preparation(config, full)
    backbone = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    load_into(backbone, weights)
    trainer = CSRecTrainer(config, backbone, phase="test-of-best", weights_file=weights, write_files=False)
    return dict(trainer.evaluate(test_data, load_best_model=False, show_progress=False))


def _train_again(config, teacher: str, config_file_list, config_dict: dict[str, Any],
                 best: dict[str, Any]) -> dict[str, float]:
    """Test result of a chosen trial whose weights are not here (carried from another machine):
    its run again, through the teacher store (a stored student is loaded, not trained)."""
    from recbole_csrec.overrides import recbole_argv
    from recbole_csrec.quick_start import run_recbole_csrec

    getLogger().info(f"the chosen trial {best['trial']} ran in an earlier search and its weights "
                     f"({best['weights'] or 'none'}) are not here: running it again")
    with recbole_argv():  # the search's own command line is not the run's
        result = run_recbole_csrec(model=config["model"], dataset=config["dataset"], teacher=teacher,
                                   config_file_list=config_file_list, config_dict=config_dict, saved=True)
    return dict(result["test_result"])


def run_hyper_csrec(model: str, dataset: str, params_file: str, teacher: str | None = None,
                    config_file_list: list[str] | None = None, fixed: dict[str, Any] | None = None,
                    num_samples: int = 1, scheduler: str = "fifo", address: str | None = None,
                    cpus_per_trial: float = 1, gpus_per_trial: float = 0,
                    output: str | None = None, num_cpus: int | None = None,
                    max_concurrent_trials: int | None = None, dry_run: bool = False,
                    check_keys: bool = False, resume: bool = False,
                    trials_from: str | None = None) -> dict[str, Any]:
    """Search `params_file`'s space; every trial trains the student and reports validation
    metrics per epoch; the best trial (on valid_metric) alone is evaluated on test.

    Writes `<output>/trials.csv`, `trials.md`, `best_config.yaml`, `summary.txt` and Ray's
    experiment folder `<output>/ray/`. Returns a dict with `best_params`, `best_valid_score`,
    `test_result`, `rows`, `summary` and the file paths. Raises CSRecError on bad input
    before Ray starts. `dry_run=True` checks everything and returns `{'plan': text}` (the
    resolved configuration, the trials and the teachers they share) without writing anything.
    `check_keys=True` (the command line) makes a key of `fixed` that no configuration layer
    knows an error. `resume=True` continues the interrupted search in `<output>/ray` (finished
    trials kept; unfinished and failed ones start again) if it is the same search, else starts
    one. Ctrl+C writes the trials so far and raises CSRecError (no best_config.yaml).
    `trials_from` (a folder with an earlier run's trials.csv and search.json, e.g. a committed
    copy, when Ray's state is gone) carries that run's finished grid points over: they are not
    run again and their rows join the table (tune/carried.py).
    """
    logger = getLogger()
    fixed = dict(fixed or {})
    _check_search_arguments(scheduler, num_samples, cpus_per_trial, gpus_per_trial)
    space = load_search_space(params_file)
    logger.info(f"search space from {space.source}")  # the file actually read (a local one, or the shipped copy)
    config, teacher_config = _build(model, dataset, teacher, config_file_list, fixed, "command line")
    teacher = config["teacher"]
    dropped = _check_keys_and_space(config, teacher_config, space, fixed, config_file_list, check_keys)
    default_output = os.path.join("results", "hyper", f"{config['model']}-{config['dataset']}-{teacher}")
    output = os.path.abspath(output or default_output)
    absolute_files = [os.path.abspath(p) for p in config_file_list] if config_file_list else None
    settings, identity = _settings_and_identity(config, teacher, absolute_files, space, fixed, output,
                                                gpus_per_trial, int(num_samples), scheduler)
    carried = (load_carried(trials_from, identity, space, str(config["valid_metric"]), int(num_samples))
               if trials_from else [])
    points = remaining_points(space, carried) if carried else None
    if dry_run:
        plan = _dry_run_plan(config, teacher_config, space, fixed, config_file_list, num_samples,
                             scheduler, output, dropped)
        return {"plan": plan + (f"\n{carried_line(trials_from, carried, points)}" if carried else "")}

    from recbole_csrec.data import ensure_dataset_files

    ensure_dataset_files(config)  # build a built-in dataset once, before trials race for it
    os.makedirs(output, exist_ok=True)
    config_file_list = absolute_files
    started = time()
    rows = _fit_remaining(config, teacher, config_file_list, settings, space, identity, output, carried, points,
                          {"num_samples": int(num_samples), "scheduler": scheduler, "address": address,
                           "cpus_per_trial": cpus_per_trial, "gpus_per_trial": gpus_per_trial,
                           "num_cpus": num_cpus, "max_concurrent_trials": max_concurrent_trials,
                           "resume": resume, "points": points, "carried": carried})
    return _report(rows, config, teacher, config_file_list, settings, space, fixed, output, time() - started)


def _check_keys_and_space(config, teacher_config, space: SearchSpace, fixed: dict[str, Any],
                          config_file_list, check_keys: bool) -> list[str]:
    """Unknown fixed keys (from the command line) and the space's keys and values, checked before
    Ray starts; returns the searched keys dropped because this teacher never reads them."""
    model, dataset, teacher = config["model"], config["dataset"], config["teacher"]
    if check_keys:
        from recbole_csrec.overrides import check_known_keys

        check_known_keys(fixed, config.known_keys() | teacher_config.known_keys())

    def check_value(key: str, value: Any) -> None:
        _build(model, dataset, teacher, config_file_list, {**fixed, key: value})

    dropped = check_space(space, config.known_keys() | set(config.final_config_dict), teacher, check_value)
    for key in dropped:
        getLogger().warning(f"search: '{key}' does not act on teacher '{teacher}': not searched")
    return dropped


def _settings_and_identity(config, teacher: str, config_file_list: list[str] | None, space: SearchSpace,
                           fixed: dict[str, Any], output: str, gpus_per_trial: float, num_samples: int,
                           scheduler: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every trial's fixed settings, and the identity of the search (search.json)."""
    settings = _fixed_settings(config, fixed, output)
    if "use_gpu" not in settings:
        settings["use_gpu"] = gpus_per_trial > 0
    identity = _search_identity(config["model"], config["dataset"], teacher, config_file_list,
                                space, settings, num_samples, scheduler)
    return settings, identity


def _fit_remaining(config, teacher: str, config_file_list, settings: dict[str, Any], space: SearchSpace,
                   identity: dict[str, Any], output: str, carried: list[dict[str, Any]],
                   points: list[dict[str, Any]] | None, ray_args: dict[str, Any]) -> list[dict[str, Any]]:
    """The trials Ray runs (all, or the points no carried row covers) beside the carried rows,
    best first; a trial run here replaces a carried row of its point."""
    rows: list[dict[str, Any]] = []
    if points is None or points:
        rows = _fit(config, teacher, config_file_list, settings, space, identity, output, ray_args)
    else:  # every point carried: nothing for Ray to do
        write_atomic(os.path.join(output, SEARCH_FILE), json.dumps(identity, indent=1) + "\n")
    return with_carried(rows, carried, space, bool(config["valid_metric_bigger"]))


def _dry_run_plan(config, teacher_config, space: SearchSpace, fixed: dict[str, Any], config_file_list,
                  num_samples: int, scheduler: str, output: str, dropped: list[str]) -> str:
    from recbole_csrec.tune.dry_run import search_plan

    def trial_configs(params: dict[str, Any]):
        return _build(config["model"], config["dataset"], config["teacher"], config_file_list, {**fixed, **params})

    store_root = config["teacher_store"] or os.path.join(output, "teacher_store")
    return search_plan(config, teacher_config, space, num_samples, scheduler, store_root, trial_configs, dropped)


def _check_search_arguments(scheduler: str, num_samples, cpus_per_trial, gpus_per_trial) -> None:
    if scheduler not in SCHEDULERS:
        raise CSRecError(f"scheduler '{scheduler}' is not accepted: use {' or '.join(SCHEDULERS)}")
    for name, value, low in (("num_samples", num_samples, 1), ("cpus_per_trial", cpus_per_trial, 0),
                             ("gpus_per_trial", gpus_per_trial, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
            raise CSRecError(f"{name}={value!r} must be a number >= {low}")


def _fit(config, teacher: str, config_file_list, settings: dict[str, Any], space: SearchSpace,
         identity: dict[str, Any], output: str, ray_args: dict[str, Any]) -> list[dict[str, Any]]:
    """Ray Tune over the space (or the resumed search): one row per trial, best first."""
    from ray import air, tune

    from recbole_csrec.tune.objective import csrec_trial
    from recbole_csrec.tune.progress import FinishedTrialsTable

    logger = getLogger()
    bigger = bool(config["valid_metric_bigger"])
    name = f"csrec-{config['model']}-{config['dataset']}-{teacher}"
    experiment = os.path.join(output, "ray", name)
    restoring = ray_args["resume"] and tune.Tuner.can_restore(experiment)
    if restoring:
        _check_same_search(output, identity)
        logger.info(f"resuming the search in {experiment}: finished trials are kept")
    elif ray_args["resume"]:
        logger.info(f"nothing to resume in {experiment}: starting the search")
    we_started = start_ray(ray_args["address"], ray_args["num_cpus"])
    try:
        trainable = tune.with_resources(
            tune.with_parameters(csrec_trial, model=config["model"], dataset=config["dataset"],
                                 teacher=teacher, config_file_list=config_file_list, fixed=settings),
            {"cpu": ray_args["cpus_per_trial"], "gpu": ray_args["gpus_per_trial"]})
        if restoring:
            tuner = tune.Tuner.restore(experiment, trainable=trainable, resume_unfinished=True,
                                       restart_errored=True)
        else:
            write_atomic(os.path.join(output, SEARCH_FILE), json.dumps(identity, indent=1) + "\n")
            # a grid that lost its carried points (--trials_from) runs a grid over whole points
            points = ray_args["points"]
            param_space = space.to_ray() if points is None else {POINT_KEY: tune.grid_search(points)}
            tuner = tune.Tuner(
                trainable, param_space=param_space,
                tune_config=tune.TuneConfig(
                    metric="valid_score", mode="max" if bigger else "min", num_samples=ray_args["num_samples"],
                    scheduler=_make_scheduler(ray_args["scheduler"], int(config["epochs"])),
                    max_concurrent_trials=ray_args["max_concurrent_trials"]),
                run_config=air.RunConfig(
                    name=name, storage_path=os.path.join(output, "ray"), verbose=1,
                    callbacks=[FinishedTrialsTable(output, space, bigger, str(config["valid_metric"]),
                                                   ray_args["carried"])],
                    failure_config=air.FailureConfig(max_failures=0, fail_fast=False)))
        return trial_rows(tuner.fit(), space, bigger)
    finally:
        if we_started:
            import ray

            ray.shutdown()


def _report(rows: list[dict[str, Any]], config, teacher: str, config_file_list, settings: dict[str, Any],
            space: SearchSpace, fixed: dict[str, Any], output: str, seconds: float) -> dict[str, Any]:
    """The trial tables, the best trial's test result, best_config.yaml and the summary line."""
    valid_metric = str(config["valid_metric"])
    csv_path, md_path = write_tables(rows, output, valid_metric)
    unfinished = sum(row["status"] == "unfinished" for row in rows)
    if unfinished:
        raise CSRecError(f"search interrupted: {unfinished} of {len(rows)} trials unfinished (see "
                         f"{md_path}); rerun with --resume to continue it, finished trials are kept")
    failed = sum(row["status"] == "error" for row in rows)
    ok = [row for row in rows if not math.isnan(row["valid_score"]) and row["weights"]]
    if not ok:
        raise CSRecError(f"all {len(rows)} trials failed; see {md_path} and {output}/ray")
    best = ok[0]
    best_params = {key: best[key] for key in space.keys}
    if os.path.isfile(best["weights"]):
        test_result = evaluate_student(config["model"], config["dataset"], teacher, config_file_list,
                                       {**settings, **best_params}, best["weights"])
    else:
        test_result = _train_again(config, teacher, config_file_list, {**settings, **best_params}, best)
    best_yaml = os.path.join(output, "best_config.yaml")
    best_config = {"teacher": teacher, **fixed, **best_params, "teacher_store": settings["teacher_store"]}
    write_atomic(best_yaml, f"# best of {len(rows)} trials on valid {valid_metric} "
                            f"({best['valid_score']:.4f}); use as:\n"
                            f"# python run_recbole_csrec.py --model={config['model']} "
                            f"--dataset={config['dataset']} --config_files={best_yaml}\n"
                            + yaml.safe_dump(best_config, sort_keys=False))
    shown = " ".join(f"{k}={v}" for k, v in best_params.items())
    test_shown = " ".join(f"{k}={v:.4f}" for k, v in test_result.items() if k.endswith("@10"))
    summary = (f"best of {len(rows)} trials ({failed} failed, {seconds:.0f}s): {shown} | "
               f"valid {valid_metric.lower()}={best['valid_score']:.4f} | test {test_shown}")
    write_atomic(os.path.join(output, "summary.txt"), summary + "\n")
    print(summary)
    return {"best_params": best_params, "best_valid_score": best["valid_score"],
            "test_result": test_result, "rows": rows, "summary": summary, "seconds": seconds,
            "failed": failed, "trials_csv": csv_path, "trials_md": md_path,
            "best_config": best_yaml, "output": output}
