"""Named search configurations (`--preset NAME`), read from the one readable file lexir/presets.toml.

A preset says which indexes a system needs (its sparse encoder and, for hybrid search, its dense encoder) and
how to search them (SearchOptions), so that a configuration measured on one collection runs on another with one
flag: `lexir eval DATASET --preset offline-best` builds (or reuses) the indexes, `lexir index build --preset`
builds them for any corpus, and `lexir search INDEX --preset` searches with its options.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from lexir.errors import LexirError
from lexir.search.feedback import DENSE_FEEDBACK, Feedback
from lexir.search.options import SearchOptions, fusion_of

logger = logging.getLogger(__name__)

PRESETS_FILE = "presets.toml"
_KEYS = {"description", "sparse", "sparse_options", "dense", "mode", "fuse", "weights", "normalization",
         "fusion_depth", "prf", "dense_prf"}


@dataclass(frozen=True)
class Preset:
    """One named configuration: the encoders whose indexes it searches, and its search options."""

    name: str
    description: str
    sparse: str
    dense: str | None
    options: SearchOptions
    sparse_options: dict[str, Any] = field(default_factory=dict)  # the sparse encoder's settings (BM25's k1, b)

    @property
    def sparse_label(self) -> str:
        """The sparse encoder with its settings, e.g. `bm25(b=0.55)`: names the index a preset builds."""
        settings = ",".join(f"{key}={value}" for key, value in sorted(self.sparse_options.items()))
        return f"{self.sparse}({settings})" if settings else self.sparse


def parse_presets(text: str) -> dict[str, Preset]:
    """Every preset of a presets.toml text (checked: unknown keys and bad values are refused)."""
    try:
        tables = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise LexirError(f"{PRESETS_FILE} is not valid TOML: {error}") from None
    return {name: _preset(name, table) for name, table in tables.items()}


def _preset(name: str, table: Any) -> Preset:
    if not isinstance(table, dict):
        raise LexirError(f"preset {name!r} in {PRESETS_FILE} must be a table of settings")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise LexirError(f"preset {name!r} has unknown settings {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(_KEYS))}")
    if not isinstance(table.get("sparse"), str):
        raise LexirError(f"preset {name!r} must name its sparse encoder (sparse = \"bm25\")")
    mode = table.get("mode", "sparse")
    if mode != "sparse" and not isinstance(table.get("dense"), str):
        raise LexirError(f"preset {name!r} searches {mode}: it must name its dense encoder (dense = \"minilm\")")
    weights = table.get("weights")
    try:
        options = SearchOptions(
            mode=mode,
            fusion=fusion_of(table.get("fuse"), tuple(weights) if weights is not None else None,
                             table.get("normalization")),
            fusion_depth=table.get("fusion_depth", SearchOptions.fusion_depth),
            prf=Feedback(**table["prf"]) if "prf" in table else None,
            dense_prf=_dense_feedback(table["dense_prf"]) if "dense_prf" in table else None)
    except TypeError as error:  # a feedback table with other keys than Feedback's
        raise LexirError(f"preset {name!r}: {error}") from None
    sparse_options = table.get("sparse_options", {})
    settings = sparse_options.values() if isinstance(sparse_options, dict) else [None]
    if not all(isinstance(value, (int, float, str)) and not isinstance(value, bool) for value in settings):
        raise LexirError(f"preset {name!r}: sparse_options must be a table of encoder settings (numbers or words), "
                         "e.g. { k1 = 0.9, b = 0.4 }")
    return Preset(name, str(table.get("description", "")), table["sparse"], table.get("dense"), options,
                  dict(sparse_options))


def _dense_feedback(table: dict[str, Any]) -> Feedback:
    return Feedback("rocchio", table.get("docs", DENSE_FEEDBACK.docs), Feedback.terms,
                    table.get("weight", DENSE_FEEDBACK.weight))


def presets() -> dict[str, Preset]:
    """The presets shipped in lexir/presets.toml."""
    return parse_presets(resources.files("lexir").joinpath(PRESETS_FILE).read_text(encoding="utf-8"))


def load_preset(name: str) -> Preset:
    """The preset called `name`; an unknown name is refused with the list of known ones."""
    known = presets()
    if name not in known:
        raise LexirError(f"unknown preset {name!r}; known presets: {', '.join(sorted(known))}")
    return known[name]


def index_differences(preset: Preset, index: Path) -> list[str]:
    """How the sparse index at `index` was built otherwise than the preset builds its own, e.g. `b 0.4, not
    0.55` (empty: as the preset builds it). The search options still apply to it, but the measured numbers were
    made with the preset's own index."""
    from lexir.index.format import is_index, read_manifest
    from lexir.index.sharded import is_sharded, read_sharded_manifest

    if is_sharded(index):
        encoder = read_sharded_manifest(index).encoder
    elif is_index(index):
        encoder = read_manifest(index).encoder
    else:
        return []  # not an index: opening it says so
    if encoder.name != preset.sparse:
        return [f"encoder {encoder.name}, not {preset.sparse}"]
    return [f"{key} {encoder.params.get(key)}, not {value}" for key, value in sorted(preset.sparse_options.items())
            if encoder.params.get(key) != value]


def warn_index_differences(preset: Preset, index: Path) -> None:
    """Say (a log warning) when an index searched with a preset was built with other encoder settings."""
    differences = index_differences(preset, index)
    if differences:
        logger.warning("%s was built with %s: the preset %s's numbers are for its own index (`lexir index build "
                       "SOURCE --preset %s`); searching with its options anyway", index, "; ".join(differences),
                       preset.name, preset.name)

