"""What a teacher builder gets: the data, the config, and a way to train one phase."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from logging import getLogger

from recbole.config import Config
from recbole.data.dataloader import TrainDataLoader
from recbole.utils import get_model, init_seed, set_color

from recbole_csrec.data import reseed_loader
from recbole_csrec.trainer import CSRecTrainer, PhaseResult


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

    def train_phase(self, name: str, model, train_data: TrainDataLoader, seed: int,
                    trainer_class: type[CSRecTrainer] = CSRecTrainer, **trainer_kwargs):
        """Train `model` with plain RecBole training to its best validation checkpoint, then
        freeze it; its test result is recorded with the phase."""
        getLogger().info(set_color(f"CSRec phase [{name}]", "yellow")
                         + f": {self.teacher_config['model']}, seed {seed}, "
                         f"{len(train_data._dataset)} training samples")
        reseed_loader(train_data, seed)
        weights = os.path.join(self.run_dir, f"{name}.pth")
        trainer = trainer_class(self.teacher_config, model, phase=name, weights_file=weights,
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
