"""CSRecStudent: wraps a RecBole sequential model; its loss is (1-beta)*CE + beta*KL.

The backbone's own `calculate_loss` runs (regularisers included); its CE call is answered by the
recorder (model/recorder.py), with the output layer fused into the loss (`fused_output`)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from recbole.data.interaction import Interaction
from recbole.model.abstract_recommender import SequentialRecommender

from recbole_csrec.data.all_positions import CAUSAL_MODELS, POSITION_ROWS_FIELD, is_causal_model
from recbole_csrec.errors import CSRecError
from recbole_csrec.model.output_layer import capture_item_scores
from recbole_csrec.model.recorder import LogitRecordingCE
from recbole_csrec.precision import bf16_active
from recbole_csrec.soft_labels import SoftLabelSource


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
        self.fused_output = bool(config["fused_output"])
        self.all_positions = bool(config["all_positions"])
        if self.all_positions:
            if not is_causal_model(type(backbone)):
                raise CSRecError(f"all_positions=True needs a causal model that reads each position "
                                 f"({', '.join(CAUSAL_MODELS)}), not '{self.model_name}': use "
                                 "all_positions=False")
            self._train_feat = dataset.inter_feat  # the rows that batches' position rows index
        self._recorder = LogitRecordingCE(self.n_items, bf16=bf16_active(config),
                                          compiled=bool(config["compiled_loss"]))
        backbone.loss_fct = self._recorder

    @property
    def soft_labels(self) -> SoftLabelSource | None:
        return self._soft_labels[0]

    def calculate_loss(self, interaction: Interaction):
        self._recorder.reset()
        rows = interaction  # the training rows the loss is over
        if self.all_positions:
            rows = self._select_positions(interaction)
        soft_labels = self.soft_labels
        batch = soft_labels.batch(rows, self.temperature) if soft_labels is not None else None
        with capture_item_scores(self.backbone, self.fused_output), self._every_position():
            if batch is None:
                return self.backbone.calculate_loss(interaction)
            self._recorder.arm(batch, self.beta, self.kl_direction)
            backbone_loss = self.backbone.calculate_loss(interaction)  # objective + the model's regularisers
        objective = self._recorder.objective
        if objective is None:
            raise CSRecError(f"model '{self.model_name}' cannot be a student: its CE loss never "
                             f"scores all {self.n_items} items")
        # (1-beta)*(CE + regularisers) + beta*KL: regularisers keep the weight (1-beta) of the CE
        total = backbone_loss - self.beta * (backbone_loss - objective.loss)
        kl_part = (objective.loss.detach() - (1.0 - self.beta) * objective.ce)
        # RecBole sums the parts and logs each: train_loss1 = (1-beta)*CE (+reg), train_loss2 = beta*KL
        return total - kl_part, kl_part

    def _select_positions(self, interaction: Interaction) -> Interaction:
        """All-position batch (data/all_positions.py): the training rows behind its positions,
        whose targets the recorder scores; returns those rows (for their soft labels)."""
        position_rows = interaction[POSITION_ROWS_FIELD]
        mask = position_rows >= 0
        rows = self._train_feat[position_rows[mask].cpu()].to(position_rows.device)
        self._recorder.select_positions(mask, rows[self.POS_ITEM_ID])
        return rows

    @contextmanager
    def _every_position(self) -> Iterator[None]:
        """All-position training: the backbone's gather_indexes returns every position (the
        shadowing prefix_sharing uses for the teachers' cache)."""
        if not self.all_positions:
            yield
            return
        self.backbone.gather_indexes = lambda output, gather_index: output
        try:
            yield
        finally:
            del self.backbone.gather_indexes

    def predict(self, interaction: Interaction) -> torch.Tensor:
        return self.backbone.predict(interaction)

    def full_sort_predict(self, interaction: Interaction) -> torch.Tensor:
        return self.backbone.full_sort_predict(interaction)

    def __str__(self) -> str:
        return f"CSRecStudent(beta={self.beta}, T={self.temperature}, KL={self.kl_direction})\n" \
               + str(self.backbone)
