"""Dense encoder over sentence-embedding checkpoints: one float32 vector per text.

The vector of a text is the checkpoint's own recipe (see sentence_config.py): the transformer's
last hidden states, pooled over the non-padding tokens (mean, CLS, max, ...), then scaled to unit
length when the checkpoint has a Normalize module. Queries and documents are encoded alike.
Only transformers and torch are needed, imported when the first text is encoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np

from lexir.encoders.base import EncoderSpec, check_options, vocabulary_fingerprint
from lexir.encoders.device import check_device, model_device, resolve_device
from lexir.encoders.hf import (
    length_sorted_batches,
    load_base_model,
    load_tokenizer,
    read_vocabulary,
    resolve_model_folder,
)
from lexir.encoders.sentence_config import SentenceConfig, read_sentence_config
from lexir.errors import LexirError


def pool(hidden: Any, mask: Any, pooling: str) -> Any:
    """One vector per text from token states `hidden` [B, T, H] and the attention `mask` [B, T] (torch)."""
    import torch

    weights = mask.unsqueeze(-1).to(hidden.dtype)
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "max":
        return hidden.masked_fill(weights == 0, float("-inf")).amax(dim=1)
    if pooling == "lasttoken":  # the last non-padding position, whichever side the tokenizer pads
        last = (mask * torch.arange(mask.shape[1], device=mask.device)).argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    total = (hidden * weights).sum(dim=1)
    count = weights.sum(dim=1).clamp(min=1e-9)
    return total / (count.sqrt() if pooling == "mean_sqrt_len_tokens" else count)


class DenseEncoder:
    """Sentence embeddings from any transformer checkpoint, pooled as its configuration says.

    Args:
        model: registry name of an embedded model, hub id or local folder.
        name: the name recorded in the index (defaults to `model`).
        model_folder: the local folder, when the caller has already resolved it.
        max_length: token limit (longer texts are truncated); default: the checkpoint's own.
        batch_size: texts per forward pass; texts are sorted by length so batches carry little padding.
        threads: torch intra-op threads (None keeps torch's default).
        trust_remote_code: allow checkpoints whose architecture ships as code in the model repository.
        loaded_model: encode with this transformer instead of loading the folder's (it runs where it already is).
        device: where the model runs (lexir.encoders.device: cpu, cuda, cuda:N, auto), checked when it loads; not in
            the spec (vectors differ by float rounding at most).
    """

    kind = "dense"
    SETTINGS = ("max_length",)
    RUNTIME_OPTIONS = ("batch_size", "threads", "trust_remote_code", "device")

    def __init__(
        self,
        model: str,
        *,
        name: str | None = None,
        model_folder: str | None = None,
        max_length: int | None = None,
        batch_size: int = 32,
        threads: int | None = None,
        trust_remote_code: bool = False,
        loaded_model: Any = None,
        device: str = "cpu",
    ) -> None:
        for label, value in (("max_length", max_length), ("batch_size", batch_size)):
            if value is not None and value < 1:
                raise LexirError(f"{label} must be at least 1, got {value}")
        self.model_ref = model
        self.name = name or model
        self._model_folder = model_folder
        self._max_length = max_length
        self.batch_size = batch_size
        self.threads = threads
        self.trust_remote_code = trust_remote_code
        self._loaded_model = loaded_model
        self.device = check_device(device)

    @classmethod
    def from_spec(cls, spec: EncoderSpec, **runtime: Any) -> DenseEncoder:
        """The encoder `spec` describes; `runtime` (RUNTIME_OPTIONS) changes no vector."""
        check_options(runtime, cls.RUNTIME_OPTIONS, spec.name)
        return cls(spec.model or spec.name, name=spec.name, max_length=spec.max_doc_length, **runtime)

    @cached_property
    def config(self) -> SentenceConfig:
        return read_sentence_config(self._model_folder or resolve_model_folder(self.model_ref))

    @property
    def max_length(self) -> int:
        return self._max_length or self.config.max_length

    @property
    def dim(self) -> int:
        return self.config.dim

    @cached_property
    def tokenizer(self) -> Any:
        return load_tokenizer(self.config.model_folder, self.trust_remote_code)

    @cached_property
    def model(self) -> Any:
        if self._loaded_model is not None:
            return self._loaded_model
        return load_base_model(self.config.model_folder, self.trust_remote_code).to(resolve_device(self.device))

    @property
    def spec(self) -> EncoderSpec:
        config = self.config
        return EncoderSpec(
            name=self.name,
            kind=self.kind,
            model=self.model_ref,
            max_doc_length=self.max_length,
            max_query_length=self.max_length,
            vocab_fingerprint=vocabulary_fingerprint(read_vocabulary(config.model_folder)),
            params={"dim": config.dim, "pooling": config.pooling, "normalize": config.normalize,
                    "lowercase": config.lowercase},
        )

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """A float32 array [len(texts), dim], row i the vector of texts[i]."""
        import torch

        if self.threads:
            torch.set_num_threads(self.threads)
        config = self.config
        vectors = np.zeros((len(texts), config.dim), dtype=np.float32)
        if not texts:
            return vectors
        texts = [text.lower() for text in texts] if config.lowercase else list(texts)
        device = model_device(self.model)
        with torch.inference_mode():
            for positions, batch in length_sorted_batches(self.tokenizer, texts, self.max_length, self.batch_size):
                batch = {key: tensor.to(device) for key, tensor in batch.items()}
                pooled = pool(self.model(**batch).last_hidden_state, batch["attention_mask"], config.pooling)
                if config.normalize:
                    pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                vectors[positions] = pooled.float().cpu().numpy()
        return vectors
