"""Which torch device a model runs on: one check for encoding (`--device` of `lexir index build` / `add-dense`, the
`device` runtime option of model encoders) and training (`lexir train --device`).

A device is named "cpu" (the default), "cuda" (torch's current GPU: in a Ray actor that reserved GPUs, the first of
those Ray made visible to it), "cuda:N", or "auto" (cuda where torch sees a GPU, else cpu). A name is checked in two
steps: `check_device` when an encoder is made (the spelling, no torch import), `resolve_device` when its model loads
(whether this machine has that GPU), so that an encoder made on a Ray driver without a GPU can still be sent to
actors that have one.

Resolving a device changes no torch setting. In particular it leaves float32 matrix products at torch's default
(full float32, no TF32): encoding on a GPU gives the CPU's vectors up to float rounding. Training switches TF32 on
itself (lexir.train.cli), where the lost mantissa bits do not matter.
"""

from __future__ import annotations

import re
from typing import Any

from lexir.errors import LexirError

DEVICES = ("cpu", "cuda", "cuda:N", "auto")
_NAME = re.compile(r"cpu|auto|cuda(:\d+)?")


def check_device(name: str) -> str:
    """`name` if it spells a device lexir runs models on, else a one-line LexirError."""
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise LexirError(f"unknown device {name!r}; use one of {', '.join(DEVICES)}")
    return name


def resolve_device(name: str) -> Any:
    """The torch.device `name` means on this machine; a one-line LexirError for a GPU this machine lacks."""
    import torch

    check_device(name)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise LexirError(f"device {name!r}: torch sees no CUDA GPU on this machine (use cpu, or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise LexirError(f"device {name!r}: torch sees {torch.cuda.device_count()} CUDA GPU(s) here, "
                             f"numbered from cuda:0")
    return device


def model_device(model: Any) -> Any:
    """The torch.device a loaded model's weights are on (where its inputs must go)."""
    return next(model.parameters()).device
