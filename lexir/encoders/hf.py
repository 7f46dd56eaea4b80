"""Loading Hugging Face checkpoints by local path or hub id, with clear errors.

With no network, `from_pretrained` on a hub id retries for most of a minute before
it fails with a generic message. lexir first looks for the files in the local
cache, then checks in a few seconds whether the hub answers at all, and otherwise
fails at once with a message that names the local-folder alternative.
"""

from __future__ import annotations

import inspect
import json
import os
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from lexir.encoders.embedded import EMBEDDED_MODELS
from lexir.errors import LexirError

HUB_PROBE_TIMEOUT_S = 3.0


def is_local_model(ref: str) -> bool:
    return Path(ref).expanduser().is_dir()


def _hub_reachable() -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False"):
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    host = urlparse(endpoint).hostname or "huggingface.co"
    port = urlparse(endpoint).port or 443
    try:
        with socket.create_connection((host, port), timeout=HUB_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def resolve_model_folder(ref: str) -> str:
    """Return a local folder for `ref`: an embedded model's (splade-tiny, minilm), the folder itself, or the hub
    snapshot (cached or downloaded)."""
    embedded = EMBEDDED_MODELS.get(ref)
    if embedded is not None:
        return embedded.path()
    if is_local_model(ref):
        return str(Path(ref).expanduser().resolve())
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return snapshot_download(ref, local_files_only=True)
    except HFValidationError as error:
        raise LexirError(
            f"'{ref}' is neither a folder nor a valid Hugging Face hub id ({error})."
        ) from error
    except LocalEntryNotFoundError:
        pass
    if not _hub_reachable():
        raise LexirError(
            f"model '{ref}' is not in the local Hugging Face cache and the hub cannot be reached "
            "(no network?). Download it where there is network "
            f"(`huggingface-cli download {ref} --local-dir DIR`) and pass the folder instead: "
            "--encoder /path/to/DIR"
        )
    try:
        return snapshot_download(ref)
    except Exception as error:  # noqa: BLE001 - re-raised with context, never swallowed
        raise LexirError(f"could not download model '{ref}' from the hub: {error}") from error


def model_vocab_size(folder: str) -> int:
    """The checkpoint's output vocabulary size, read from config.json (no transformers import)."""
    config = Path(folder) / "config.json"
    try:
        return int(json.loads(config.read_text(encoding="utf-8"))["vocab_size"])
    except (OSError, ValueError, KeyError) as error:
        raise LexirError(f"{config} is missing or has no vocab_size; is {folder} a model folder?") from error


def load_fast_tokenizer(folder: str) -> Any:
    """The `tokenizers` tokenizer of a model folder: no transformers, no torch (for model-free query sides)."""
    from tokenizers import Tokenizer

    path = Path(folder) / "tokenizer.json"
    if not path.is_file():
        raise LexirError(f"{folder} has no tokenizer.json (a fast tokenizer is needed to encode without a model)")
    return Tokenizer.from_file(str(path))


def read_vocabulary(folder: str) -> list[str]:
    """Vocabulary terms in id order, padded with placeholders up to the model's output size."""
    size = model_vocab_size(folder)
    if (Path(folder) / "tokenizer.json").is_file():
        by_id = {i: token for token, i in load_fast_tokenizer(folder).get_vocab(with_added_tokens=True).items()}
        terms = [by_id.get(i, f"[unused-id-{i}]") for i in range(size)]
    else:
        tokenizer = load_tokenizer(folder)
        known = tokenizer.convert_ids_to_tokens(list(range(min(size, len(tokenizer)))))
        terms = known + [f"[unused-id-{i}]" for i in range(len(known), size)]
    return terms


def load_tokenizer(folder: str, trust_remote_code: bool = False) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder, trust_remote_code=trust_remote_code)


def load_masked_lm(folder: str, trust_remote_code: bool = False) -> Any:
    from transformers import AutoModelForMaskedLM

    return _load_model(AutoModelForMaskedLM, folder, "masked-LM", trust_remote_code)


def load_causal_lm(folder: str, trust_remote_code: bool = False) -> Any:
    from transformers import AutoModelForCausalLM

    return _load_model(AutoModelForCausalLM, folder, "causal-LM", trust_remote_code)


CAUSAL_MODEL_TYPES = frozenset({"mistral", "llama", "qwen2", "qwen3", "gemma", "gemma2", "phi3", "gpt2", "gpt_neox",
                                "falcon", "mixtral", "olmo", "smollm3"})


def is_causal_lm(folder: str) -> bool:
    """Whether a model folder holds a decoder-only (causal) LM, from config.json's `architectures` (a
    `*ForCausalLM` / `*LMHeadModel` class) or, without them, its `model_type`."""
    try:
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    architectures = config.get("architectures") or []
    if architectures:
        return any(name.endswith(("ForCausalLM", "LMHeadModel")) for name in architectures)
    return config.get("model_type") in CAUSAL_MODEL_TYPES


def local_model_folder(ref: str) -> str | None:
    """`ref`'s folder where it is already here (a folder, an embedded model, the hub cache), or where the hub can
    be reached to fetch it; None when neither (the encoder then fails with the offline error when it loads)."""
    if ref in EMBEDDED_MODELS or is_local_model(ref):
        return resolve_model_folder(ref)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return snapshot_download(ref, local_files_only=True)
    except (HFValidationError, LocalEntryNotFoundError):
        pass
    return resolve_model_folder(ref) if _hub_reachable() else None


def load_base_model(folder: str, trust_remote_code: bool = False) -> Any:
    """The transformer without any head: token states for sentence embeddings.

    Its pooler (BERT's dense + tanh over the first token), where the architecture makes it optional
    (`add_pooling_layer`), is dropped: sentence embeddings pool the token states themselves, and the pooler's
    matrix product is a cost of every forward pass that nothing reads.
    """
    from transformers import AutoModel

    model = _load_model(AutoModel, folder, "transformer", trust_remote_code)
    if getattr(model, "pooler", None) is not None and "add_pooling_layer" in inspect.signature(type(model)).parameters:
        model.pooler = None
    return model


def _load_model(auto_class: Any, folder: str, what: str, trust_remote_code: bool) -> Any:
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # one bar per weight file is noise inside an index build
    try:
        model = auto_class.from_pretrained(folder, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as error:
        raise LexirError(f"'{folder}' does not hold a {what} checkpoint: {error}") from error
    return model.eval()


def length_sorted_batches(tokenizer: Any, texts: Sequence[str], max_length: int, batch_size: int
                          ) -> Iterator[tuple[np.ndarray, Any]]:
    """(positions in `texts`, padded torch batch) from the longest texts to the shortest.

    Sorting by token count first means each batch pads to nearly its own length, not the longest text's. A
    single text (a query) is tokenized straight into its tensors: nothing to sort or pad.
    """
    if len(texts) == 1:
        batch = tokenizer(list(texts), truncation=True, max_length=max_length, return_tensors="pt")
        yield np.zeros(1, dtype=np.int64), {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        return
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    order = np.argsort([-len(ids) for ids in encoded], kind="stable")
    for start in range(0, len(order), batch_size):
        positions = order[start : start + batch_size]
        yield positions, tokenizer.pad({"input_ids": [encoded[i] for i in positions]}, return_tensors="pt")
