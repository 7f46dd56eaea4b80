"""What a training run is made of, without importing torch (the CLI builds its defaults from here)."""

from __future__ import annotations

from dataclasses import dataclass

from lexir.errors import LexirError

TEACHERS = ("sparse", "dense", "bm25")
METHOD_TEACHERS = ("sparse", "dense")  # the paper's heterogeneous ensemble; BM25 is an optional third
FLOPS_MODES = ("idf", "plain")
NORMALIZATIONS = ("min-max", "z-score")


def refuse_test_split(dataset_id: str) -> None:
    """lexir never trains, nor picks a checkpoint, on a test split."""
    if dataset_id.rstrip("/").endswith("/test"):
        raise LexirError(f"{dataset_id} is a test split: lexir trains and validates only on train or dev splits")


@dataclass(frozen=True)
class TrainOptions:
    """The student, the objective and the schedule (see lexir.train.losses for the formulas)."""

    base_model: str = "splade-tiny"
    teachers: tuple[str, ...] = METHOD_TEACHERS
    normalization: str = "min-max"
    teacher_scale: float = 30.0
    flops: str = "idf"
    flops_weight: float = 0.001
    flops_warmup_steps: int = 200
    contrastive_weight: float = 0.0
    idf: str = "data"
    train_idf: bool = False
    group_size: int = 6
    batch_size: int = 4
    steps: int = 600
    learning_rate: float = 1e-5
    warmup_steps: int = 50
    max_doc_length: int = 128
    save_every: int = 100
    seed: int = 13
    dev: str | None = None

    def check(self) -> None:
        if self.dev is not None:
            refuse_test_split(self.dev)
        unknown = sorted(set(self.teachers) - set(TEACHERS))
        if unknown or not self.teachers:
            raise LexirError(f"teachers must be some of {', '.join(TEACHERS)}, got {', '.join(self.teachers)}")
        if self.flops not in FLOPS_MODES:
            raise LexirError(f"--flops must be one of {', '.join(FLOPS_MODES)}, got {self.flops!r}")
        if self.normalization not in NORMALIZATIONS:
            raise LexirError(f"--normalization must be one of {', '.join(NORMALIZATIONS)}")
        for name in ("group_size", "batch_size", "steps", "save_every", "max_doc_length"):
            if getattr(self, name) < (2 if name == "group_size" else 1):
                raise LexirError(f"{name.replace('_', '-')} is too small: {getattr(self, name)}")
