"""CSRec-T's main teacher g1, trained with the noise model h next to a frozen side teacher g2.

Loss (paper Eq. 12-13), every part logged by RecBole as its own train_loss column:

    CE(g1)  +  alpha * KL(P_g2 || P_g1)  +  (1-alpha) * KL(P_g1 || P_g2)  -  sum_j P_g1(j|s) log h(i|j)

All distributions are over the real items (padding column 0 dropped before any softmax).
g1 and h are the trainable modules (one optimizer); g2 is held outside nn.Module's registry,
so it is never optimised, moved by `.train()`, or saved in this module's weight file.
"""
from __future__ import annotations

import torch
from recbole.data.interaction import Interaction
from recbole.model.abstract_recommender import SequentialRecommender

from recbole_csrec.errors import CSRecError
from recbole_csrec.model.recorder import LogitRecordingCE
from recbole_csrec.model.noise import NoiseModel
from recbole_csrec.model.teacher_pair_loss import teacher_pair_loss


class MainTeacher(SequentialRecommender):
    """g1 (`g1`, a RecBole model) + noise model h (`noise`); `full_sort_predict` is g1's.

    The weight file holds `g1.*` (g1's own state_dict under that prefix) and `noise.M`, `noise.N`
    (absent when `expectation_term` is off).
    """

    def __init__(self, config, dataset, g1: SequentialRecommender, side_teacher: SequentialRecommender,
                 alpha: float, expectation_term: bool = True, noise: NoiseModel | None = None) -> None:
        super().__init__(config, dataset)
        self.g1 = g1
        self.alpha = float(alpha)
        self.use_expectation = bool(expectation_term)
        if self.use_expectation and noise is None:
            noise = NoiseModel(self.n_items, int(config["noise_rank"]), str(config["noise_normalizer"]),
                               int(config["noise_exact_max_items"]), int(config["noise_sample_size"]))
        # Without the expectation term (Fig. 7 ablation) h does not exist: nothing to train or save.
        self.noise = noise if self.use_expectation else None
        self.model_name = type(g1).__name__
        # Frozen and kept out of the registry (a tuple hides it from nn.Module).
        side_teacher.eval()
        side_teacher.requires_grad_(False)
        self._side = (side_teacher,)
        self.compiled = bool(config["compiled_loss"])  # the CE/KL terms compiled
        self._recorder = LogitRecordingCE(self.n_items)
        g1.loss_fct = self._recorder

    @property
    def side_teacher(self) -> SequentialRecommender:
        return self._side[0]

    def calculate_loss(self, interaction: Interaction):
        """(CE, alpha*KL(P_g2||P_g1), (1-alpha)*KL(P_g1||P_g2)[, expectation term])."""
        self._recorder.reset()
        self._recorder.defer_ce()  # CE is computed below, with the KL terms, from the same logits
        backbone_rest = self.g1.calculate_loss(interaction)  # g1's regularisers, if any
        logits = self._recorder.logits
        self._recorder.logits = None
        if logits is None:
            raise CSRecError(f"model '{self.model_name}' cannot be a CSRec-T main teacher: its CE loss "
                             f"never scores all {self.n_items} items")
        with torch.no_grad():
            side_logits = self.side_teacher.full_sort_predict(interaction)[:, 1:]
        target = interaction[self.POS_ITEM_ID]
        ce, kl_21, kl_12, p1 = teacher_pair_loss(logits, side_logits, target, self.compiled)
        parts = (ce + backbone_rest, self.alpha * kl_21, (1 - self.alpha) * kl_12)
        if self.use_expectation:
            parts += (self.noise.expectation_term(target, p1),)
        return parts

    def predict(self, interaction: Interaction) -> torch.Tensor:
        return self.g1.predict(interaction)

    def full_sort_predict(self, interaction: Interaction) -> torch.Tensor:
        return self.g1.full_sort_predict(interaction)

    def __str__(self) -> str:
        noise = f", {self.noise.extra_repr()}" if self.noise is not None else ""
        return f"MainTeacher(alpha={self.alpha}, expectation_term={self.use_expectation}{noise})\n" \
            + str(self.g1)
