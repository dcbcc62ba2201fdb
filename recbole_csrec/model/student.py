"""CSRecStudent: wraps a RecBole sequential model; its loss is (1-beta)*CE + beta*KL."""
from __future__ import annotations

import torch
from recbole.data.interaction import Interaction
from recbole.model.abstract_recommender import SequentialRecommender

from recbole_csrec.errors import CSRecError
from recbole_csrec.loss import soft_label_kl, student_loss
from recbole_csrec.model.recorder import LogitRecordingCE
from recbole_csrec.soft_labels import SoftLabelSource
from recbole_csrec.soft_labels.base import SoftLabelBatch


class CSRecStudent(SequentialRecommender):
    """A student f around `backbone`. Without a soft-label source it is plain CE (Base)."""

    def __init__(self, config, dataset, backbone: SequentialRecommender,
                 soft_labels: SoftLabelSource | None = None) -> None:
        super().__init__(config, dataset)
        self.backbone = backbone
        self.beta = float(config["beta"])
        self.temperature = float(config["temperature"])
        self.kl_direction = config["kl_direction"]
        self.model_name = type(backbone).__name__
        # Kept outside nn.Module's registry: teachers are frozen, never optimised or saved here.
        self._soft_labels = (soft_labels,)
        self._recorder = LogitRecordingCE(self.n_items)
        backbone.loss_fct = self._recorder

    @property
    def soft_labels(self) -> SoftLabelSource | None:
        return self._soft_labels[0]

    def calculate_loss(self, interaction: Interaction):
        self._recorder.reset()
        if self.soft_labels is None:
            return self.backbone.calculate_loss(interaction)
        soft_labels = self.soft_labels.batch(interaction, self.temperature)
        if self.kl_direction == "forward":
            return self._forward_kl_loss(interaction, soft_labels)
        ce = self.backbone.calculate_loss(interaction)
        kl = soft_label_kl(self._recorded_logits(), soft_labels.log_probs, interaction[self.POS_ITEM_ID],
                           self.kl_direction)
        return student_loss(ce, kl, self.beta)

    def _forward_kl_loss(self, interaction: Interaction, soft_labels: SoftLabelBatch):
        """The backbone's CE call computes the whole objective (one log-softmax); see the recorder."""
        self._recorder.arm(soft_labels, self.beta)
        backbone_loss = self.backbone.calculate_loss(interaction)  # objective + the model's regularisers
        self._recorded_logits()
        objective = self._recorder.objective
        # (1-beta)*(CE + regularisers) + beta*KL: regularisers keep the weight they have in student_loss
        total = backbone_loss - self.beta * (backbone_loss - objective.loss)
        kl_part = (objective.loss.detach() - (1.0 - self.beta) * objective.ce)
        # RecBole sums the parts and logs each: train_loss1 = (1-beta)*CE (+reg), train_loss2 = beta*KL
        return total - kl_part, kl_part

    def _recorded_logits(self) -> torch.Tensor:
        logits = self._recorder.logits
        if logits is None:
            raise CSRecError(f"model '{self.model_name}' cannot be a student: its CE loss never "
                             f"scores all {self.n_items} items")
        return logits

    def predict(self, interaction: Interaction) -> torch.Tensor:
        return self.backbone.predict(interaction)

    def full_sort_predict(self, interaction: Interaction) -> torch.Tensor:
        return self.backbone.full_sort_predict(interaction)

    def __str__(self) -> str:
        return f"CSRecStudent(beta={self.beta}, T={self.temperature}, KL={self.kl_direction})\n" \
               + str(self.backbone)
