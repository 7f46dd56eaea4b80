"""How a sentence-embedding checkpoint wants its token states pooled, read from its own files.

A sentence-transformers folder lists its modules in `modules.json`: a Transformer (the Hugging
Face model, at the folder itself or a subfolder), a Pooling module (`1_Pooling/config.json`:
which pooling), and optionally Normalize (unit-length vectors). lexir reads these files instead
of importing sentence-transformers, so dense encoding needs only transformers. A plain Hugging
Face folder without `modules.json` gets sentence-transformers' own default: mean pooling, no
normalization. Modules lexir cannot reproduce (Dense projections, ...) are refused, never skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lexir.errors import LexirError

POOLINGS = ("mean", "cls", "max", "mean_sqrt_len_tokens", "lasttoken")
MAX_LENGTH_CAP = 512
_MODULE_PREFIX = "sentence_transformers.models."
_POOLING_FLAGS = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max",
                  "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens", "pooling_mode_lasttoken": "lasttoken"}


@dataclass(frozen=True)
class SentenceConfig:
    """What turns a checkpoint's token states into one vector per text.

    `model_folder` holds the Hugging Face model and tokenizer; `max_length` is the checkpoint's
    token limit (sentence-transformers' max_seq_length, else its position embeddings, capped at 512).
    """

    model_folder: str
    pooling: str
    normalize: bool
    lowercase: bool
    max_length: int
    dim: int


def read_sentence_config(folder: str) -> SentenceConfig:
    """Read modules.json, the Pooling config and sentence_bert_config.json of `folder`."""
    root = Path(folder)
    modules = _read_json(root / "modules.json") if (root / "modules.json").is_file() else None
    if modules is None:
        return _config(root, root, pooling="mean", normalize=False)
    types = {_module_type(module, root): module for module in modules}
    unsupported = sorted(set(types) - {"Transformer", "Pooling", "Normalize"})
    if unsupported or "Transformer" not in types:
        raise LexirError(
            f"{root / 'modules.json'} lists modules lexir cannot run ({', '.join(unsupported) or 'no Transformer'}); "
            "lexir's dense encoder supports Transformer, Pooling and Normalize"
        )
    model_folder = root / types["Transformer"].get("path", "")
    pooling = _pooling(root / types["Pooling"].get("path", "") / "config.json") if "Pooling" in types else "mean"
    return _config(root, model_folder, pooling=pooling, normalize="Normalize" in types)


def _config(root: Path, model_folder: Path, *, pooling: str, normalize: bool) -> SentenceConfig:
    settings_file = model_folder / "sentence_bert_config.json"
    settings = _read_json(settings_file) if settings_file.is_file() else {}
    model_config = _read_json(model_folder / "config.json")
    hidden_size = model_config.get("hidden_size") or model_config.get("d_model")
    if not isinstance(hidden_size, int):
        raise LexirError(f"{model_folder / 'config.json'} has no hidden_size; is {root} a transformer checkpoint?")
    positions = model_config.get("max_position_embeddings") or MAX_LENGTH_CAP
    max_length = settings.get("max_seq_length") or min(positions, MAX_LENGTH_CAP)
    return SentenceConfig(model_folder=str(model_folder), pooling=pooling, normalize=normalize,
                          lowercase=bool(settings.get("do_lower_case", False)), max_length=int(max_length),
                          dim=hidden_size)


def _module_type(module: dict[str, Any], root: Path) -> str:
    kind = str(module.get("type", ""))
    return kind[len(_MODULE_PREFIX):] if kind.startswith(_MODULE_PREFIX) else kind or f"unnamed module in {root}"


def _pooling(path: Path) -> str:
    """The one pooling a Pooling config turns on (`pooling_mode` in newer files, flags in older ones)."""
    config = _read_json(path)
    named = config.get("pooling_mode")
    chosen = [named] if isinstance(named, str) else [name for flag, name in _POOLING_FLAGS.items() if config.get(flag)]
    others = [key for key, value in config.items() if key.startswith("pooling_mode_") and value
              and key not in _POOLING_FLAGS]
    if len(chosen) != 1 or chosen[0] not in POOLINGS or others:
        raise LexirError(f"{path} asks for pooling {chosen + others or 'none'}; lexir supports exactly one of "
                         f"{', '.join(POOLINGS)}")
    return chosen[0]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LexirError(f"{path} is missing; is {path.parent} a sentence-embedding checkpoint?") from None
    except (OSError, ValueError) as error:
        raise LexirError(f"{path} cannot be read as JSON ({error})") from error
