"""CSRec-T (Algorithm 3): side teacher g2 on a p-subsample, then main teacher g1 with h; e_u = g1(s_u).

Seeds (from the config's `seed`): g1 is initialised from seed+1 (as CSRec-M's teacher-1, so the
two differ only in the training loss); g2's initialisation, its subsample and its shuffling use
seed+2.
"""
from __future__ import annotations

from recbole_csrec.data import subsample_sequences
from recbole_csrec.model.main_teacher import MainTeacher
from recbole_csrec.soft_labels import TeacherEnsemble
from recbole_csrec.teachers.context import TeacherContext
from recbole_csrec.teachers.plan import MAIN_TEACHER_KEYS, PlannedPhase


class TrainingLevelLabels(TeacherEnsemble):
    """CSRec-T's soft labels: e_u = g1(s_u) alone. The frozen side teacher g2 and the noise
    model h ride along only so that the soft-label diagnostics can compare g1 with g2 and
    read h; the student never sees them."""

    def __init__(self, main: MainTeacher, mode: str = "logits") -> None:
        super().__init__([main.g1], mode)
        self.side_teacher = main.side_teacher
        self.noise = main.noise


def build_training_level_teacher(ctx: TeacherContext) -> TrainingLevelLabels:
    config = ctx.config
    seed = int(config["seed"])

    ratio = float(config["sample_ratio"])
    side_seed = seed + 2
    subset = subsample_sequences(ctx.train_data, ratio, side_seed)
    g2, _ = ctx.train_phase("side-teacher", ctx.build_teacher_model(side_seed), subset, side_seed,
                            store_fields={"sample_ratio": ratio})

    main_seed = seed + 1
    g1 = ctx.build_teacher_model(main_seed)  # seeds g1's init; h is initialised right after it
    main = MainTeacher(ctx.teacher_config, ctx.train_data._dataset, g1, g2, alpha=float(config["alpha"]),
                       expectation_term=bool(config["expectation_term"])).to(ctx.teacher_config["device"])
    # g1 depends on g2 (fixed by sample_ratio and the seeds) and on the CSRec-T keys.
    main_fields = {key: config[key] for key in MAIN_TEACHER_KEYS}
    main_fields["sample_ratio"] = ratio
    ctx.train_phase("main-teacher", main, ctx.train_data, main_seed, store_fields=main_fields,
                    objective="main-teacher")
    meta = {"alpha": main.alpha, "expectation_term": main.use_expectation}
    if main.noise is not None:
        meta.update(noise_rank=main.noise.rank, noise_normalizer=main.noise.normalizer)
    ctx.phases[-1].meta.update(meta)
    return TrainingLevelLabels(main, config["ensemble"])


def plan_training_level(config) -> list[PlannedPhase]:
    """The side and main teachers, with the seeds and key fields the builder uses."""
    ratio = float(config["sample_ratio"])
    main_fields = {key: config[key] for key in MAIN_TEACHER_KEYS}
    main_fields["sample_ratio"] = ratio
    seed = int(config["seed"])
    return [PlannedPhase("side-teacher", seed + 2, {"sample_ratio": ratio},
                         f"g2 on a {ratio:g}-subsample"),
            PlannedPhase("main-teacher", seed + 1, main_fields,
                         f"g1 with the noise model (alpha {config['alpha']})", objective="main-teacher")]
