"""What a teacher builder gets: the data, the config, and a way to train one phase."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from logging import getLogger
from typing import Any, Callable

from recbole.config import Config
from recbole.data.dataloader import TrainDataLoader
from recbole.utils import init_seed, set_color

from recbole_csrec.data import reseed_loader
from recbole_csrec.names import method_name
from recbole_csrec.teachers.plan import planned_teacher_phases
from recbole_csrec.teachers.store import PLAIN_OBJECTIVE, TeacherStore, default_store_path, teacher_key_fields
from recbole_csrec.teachers.train_or_load import train_or_load
from recbole_csrec.trainer import CSRecTrainer, PhaseResult
from recbole_csrec.lookups import get_model


@dataclass
class PhaseSpec:
    """One teacher phase for `TeacherContext.train_phases` (arguments of train_phase)."""

    name: str
    seed: int
    make_model: Callable[[], Any]
    train_data: TrainDataLoader
    store_fields: dict[str, Any] | None = None


@dataclass
class TeacherContext:
    config: Config                 # the student's config (CSRec keys, training settings)
    teacher_config: Config         # config of the teacher architecture (== config unless teacher_model)
    dataset: object                # the full RecBole dataset
    train_data: TrainDataLoader
    valid_data: object
    test_data: object
    run_dir: str                   # where this run's weight files go
    saved: bool = True
    show_progress: bool = False
    phases: list[PhaseResult] = field(default_factory=list)

    def build_teacher_model(self, seed: int):
        """A fresh teacher of the configured architecture, initialised from `seed`."""
        init_seed(seed, self.teacher_config["reproducibility"])
        model_class = get_model(self.teacher_config["model"])
        return model_class(self.teacher_config, self.train_data._dataset).to(self.teacher_config["device"])

    @property
    def store(self) -> TeacherStore | None:
        """The teacher store, or None when `reuse_teachers` is false."""
        if not self.config["reuse_teachers"]:
            return None
        return TeacherStore(default_store_path(self.config))

    def soft_label_cache_file(self) -> str | None:
        """The store's cache file for the soft labels of this run's teachers, when all of them
        are store entries; None without a store."""
        store = self.store
        keys = [phase.meta.get("store_key") for phase in self.phases]
        if store is None or not keys or not all(keys):
            return None
        return store.soft_label_file(keys, ensemble=self.config["ensemble"],
                                     topk=self.config["soft_label_topk"])

    def valid_scores_budget_mb(self) -> float:
        """MB each teacher phase may keep of its best validation scores for the diagnostics
        (0 when they are off): the soft-label memory budget shared by the run's teachers."""
        if not self.config["diagnostics"]:
            return 0.0
        phases = len(planned_teacher_phases(self.config))
        return float(self.config["soft_label_cache_mb"]) / max(1, phases)

    def train_phase(self, name: str, model, train_data: TrainDataLoader, seed: int,
                    trainer_class: type[CSRecTrainer] = CSRecTrainer,
                    store_fields: dict[str, Any] | None = None, objective: str = PLAIN_OBJECTIVE,
                    phase_config: Config | None = None, **trainer_kwargs):
        """Train `model` with plain RecBole training to its best validation checkpoint, then
        freeze it; its test result is recorded with the phase.

        With `reuse_teachers`, the teacher store is asked first: a stored model with the same
        key is loaded instead of trained; a newly trained one is published. The key describes
        the model (config, seed, `objective`, `store_fields`), not the phase's name, so a
        Base run and a teacher that are the same model find each other. `store_fields` are
        extra key fields that determine the model beyond its config and seed (e.g. the
        subsample ratio, or alpha for a CSRec-T main teacher); trainer_kwargs must not change
        the weights unless they are reflected there. `phase_config` trains under another
        config than the teacher architecture's (Base trains the student's own).
        """
        return self._phase_from_store(name, model, train_data, seed, trainer_class, store_fields,
                                      True, objective=objective, phase_config=phase_config,
                                      **trainer_kwargs)

    def train_phases(self, specs: list[PhaseSpec]) -> list:
        """Independent teacher phases; with the store, phases another process is training right
        now are done last, so concurrent trials train different teachers in parallel instead
        of queueing behind one. Returns the frozen models and keeps `phases` in spec order."""
        first = len(self.phases)
        models: dict[str, Any] = {}
        pending = list(specs)
        while pending:
            # A pass that skips teachers someone else is training; if all are busy, wait for one.
            progressed = False
            for spec in list(pending):
                out = self._phase_from_store(spec.name, None, spec.train_data, spec.seed, CSRecTrainer,
                                             spec.store_fields, False, make_model=spec.make_model)
                if out is not None:
                    models[spec.name] = out[0]
                    pending.remove(spec)
                    progressed = True
            if pending and not progressed:
                spec = pending.pop(0)
                models[spec.name] = self._phase_from_store(
                    spec.name, None, spec.train_data, spec.seed, CSRecTrainer, spec.store_fields,
                    True, make_model=spec.make_model)[0]
        order = {spec.name: i for i, spec in enumerate(specs)}
        self.phases[first:] = sorted(self.phases[first:], key=lambda p: order.get(p.name, len(order)))
        return [models[spec.name] for spec in specs]

    def _phase_from_store(self, name: str, model, train_data: TrainDataLoader, seed: int,
                          trainer_class: type[CSRecTrainer], store_fields: dict[str, Any] | None,
                          wait: bool, make_model: Callable[[], Any] | None = None,
                          objective: str = PLAIN_OBJECTIVE, phase_config: Config | None = None,
                          **trainer_kwargs):
        """train_phase's work; returns None when `wait` is False and another holder trains it."""
        store = self.store
        phase_config = self.teacher_config if phase_config is None else phase_config
        build = make_model if model is None else (lambda: model)
        if store is None:
            return self._train(name, build(), train_data, seed, trainer_class, phase_config, **trainer_kwargs)
        fields = teacher_key_fields(phase_config, seed=seed, extra=store_fields, objective=objective)

        def train(fresh, resume_file):
            _, trainer = self._train(name, fresh, train_data, seed, trainer_class, phase_config,
                                     resume_file=resume_file, **trainer_kwargs)
            return trainer, self.phases[-1]

        phase = train_or_load(store, fields, build, train, phase_config, name, seed,
                              label=f"{method_name(self.config['teacher'])} {name}", wait=wait)
        if phase is None:
            return None
        if phase.reused:
            phase.model.requires_grad_(False)
            self.phases.append(phase.result)
        return phase.model, phase.trainer

    def _train(self, name: str, model, train_data: TrainDataLoader, seed: int,
               trainer_class: type[CSRecTrainer], phase_config: Config, **trainer_kwargs):
        getLogger().info(set_color(f"CSRec phase [{name}]", "yellow")
                         + f": {phase_config['model']}, seed {seed}, "
                         f"{len(train_data._dataset)} training samples")
        reseed_loader(train_data, seed)
        weights = os.path.join(self.run_dir, f"{name}.pth")
        trainer_kwargs.setdefault("keep_valid_scores_mb", self.valid_scores_budget_mb())
        trainer = trainer_class(phase_config, model, phase=name, weights_file=weights,
                                write_files=self.saved, **trainer_kwargs)
        trainer.fit(train_data, self.valid_data, saved=self.saved, show_progress=self.show_progress)
        result = trainer.phase_result()
        result.test_result = trainer.evaluate(self.test_data, load_best_model=False,
                                              show_progress=self.show_progress)
        result.meta["seed"] = seed
        model.eval()
        model.requires_grad_(False)
        self.phases.append(result)
        return model, trainer
