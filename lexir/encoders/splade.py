"""SPLADE encoder over any Hugging Face masked-LM checkpoint.

A text's weight for vocabulary term j is max over its non-padding tokens i of
act(logits[i, j]), with act = log(1 + relu(x)) (SPLADE), or log(1 + log(1 + relu(x)))
(OpenSearch v3 style). Both activations are monotone non-decreasing, so taking the
max of the raw logits first and activating once per text gives exactly the same
numbers while doing 1/length of the activation work. The MLM head runs only on
non-padding tokens, in vocabulary tiles, so a batch's full logits tensor never exists.
`max_logits` is that pooling, for inference here and for training (lexir.train.student),
where it runs with gradients.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp

from lexir.encoders.base import CorpusStatistics, EncoderSpec, check_options, vocabulary_fingerprint
from lexir.encoders.device import check_device, model_device, resolve_device
from lexir.encoders.hf import (
    length_sorted_batches,
    load_masked_lm,
    load_tokenizer,
    read_vocabulary,
    resolve_model_folder,
)
from lexir.errors import LexirError

ACTIVATIONS = ("log1p_relu", "log1p_log1p_relu")
PRECISIONS = ("fp32", "bf16")
VOCAB_TILE = 512
TOKEN_BLOCK = 1024
DEFAULT_MAX_DOC_LENGTH = 256
DEFAULT_MAX_QUERY_LENGTH = 64


def activate(logits: Any, activation: str) -> Any:
    """Apply a SPLADE activation to a torch tensor."""
    import torch

    weights = torch.log1p(torch.relu(logits))
    if activation == "log1p_log1p_relu":
        weights = torch.log1p(weights)
    return weights


class SpladeEncoder:
    """SPLADE: MLM logits, log(1+relu), max-pooled over tokens, on queries and documents.

    Args:
        model: hub id or local folder of a masked-LM checkpoint.
        name: the name recorded in the index (defaults to `model`).
        max_doc_length / max_query_length: token limits (longer texts are truncated).
        batch_size: texts per forward pass; texts are sorted by length so batches carry little padding.
        threads: torch intra-op threads (None keeps torch's default).
        doc_top_k / query_top_k: keep only the k largest weights of each vector (None keeps all).
        activation: one of ACTIVATIONS.
        trust_remote_code: allow checkpoints whose architecture ships as code in the model repository.
        precision: "fp32" (equal to the reference computation) or "bf16" (opt-in, lossy: the transformer and
            the vocabulary projection run under bfloat16 autocast; see docs/benchmarks.md for its effect).
        loaded_model: encode with this masked LM (e.g. one being trained) instead of loading the folder's; worker
            processes of a parallel build load the folder's, as they are sent settings, not weights.
        query_model: encode queries with this masked-LM checkpoint (same vocabulary) instead: a query-side setting,
            not in the spec, since document vectors do not change.
        device: where the model runs (lexir.encoders.device: cpu, cuda, cuda:N, auto), checked when it loads; not in
            the spec (vectors differ by float rounding at most). A `loaded_model` runs where it already is.
    """

    kind = "splade"
    added_terms: tuple[str, ...] = ()  # the model's vocabulary is fixed (see grow_vocabulary)
    uses_corpus_statistics = False  # queries are the model's own (see use_corpus_statistics)
    SETTINGS = ("max_doc_length", "max_query_length", "doc_top_k", "query_top_k", "activation", "precision")
    RUNTIME_OPTIONS = ("batch_size", "threads", "trust_remote_code", "query_model", "device")

    def __init__(
        self,
        model: str,
        *,
        name: str | None = None,
        model_folder: str | None = None,
        max_doc_length: int = DEFAULT_MAX_DOC_LENGTH,
        max_query_length: int = DEFAULT_MAX_QUERY_LENGTH,
        batch_size: int = 32,
        threads: int | None = None,
        doc_top_k: int | None = None,
        query_top_k: int | None = None,
        activation: str = ACTIVATIONS[0],
        trust_remote_code: bool = False,
        precision: str = PRECISIONS[0],
        loaded_model: Any = None,
        query_model: str | None = None,
        device: str = "cpu",
    ) -> None:
        if precision not in PRECISIONS:
            raise LexirError(f"unknown precision '{precision}'; choose one of {', '.join(PRECISIONS)}")
        if activation not in ACTIVATIONS:
            raise LexirError(f"unknown activation '{activation}'; choose one of {', '.join(ACTIVATIONS)}")
        for label, value in (("max_doc_length", max_doc_length), ("max_query_length", max_query_length),
                             ("batch_size", batch_size)):
            if value < 1:
                raise LexirError(f"{label} must be at least 1, got {value}")
        self.model_ref = model
        self.name = name or model
        self._model_folder = model_folder
        self.max_doc_length = max_doc_length
        self.max_query_length = max_query_length
        self.batch_size = batch_size
        self.threads = threads
        self.doc_top_k = doc_top_k
        self.query_top_k = query_top_k
        self.activation = activation
        self.trust_remote_code = trust_remote_code
        self.precision = precision
        self._loaded_model = loaded_model
        self.query_model = query_model
        self.device = check_device(device)

    @classmethod
    def from_spec(cls, spec: EncoderSpec, **runtime: Any) -> SpladeEncoder:
        """The encoder `spec` describes; `runtime` (RUNTIME_OPTIONS) changes no vector."""
        check_options(runtime, cls.RUNTIME_OPTIONS, spec.name)
        return cls(spec.model or spec.name, name=spec.name, **spec_settings(spec, cls.SETTINGS), **runtime)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle settings, not loaded weights: worker processes load the model themselves."""
        loaded = ("model", "_loaded_model", "tokenizer", "_split_head", "_query_side")
        return {**{key: value for key, value in self.__dict__.items() if key not in loaded}, "_loaded_model": None}

    @cached_property
    def model_folder(self) -> str:
        return self._model_folder or resolve_model_folder(self.model_ref)

    @cached_property
    def tokenizer(self) -> Any:
        return load_tokenizer(self.model_folder, self.trust_remote_code)

    @cached_property
    def model(self) -> Any:
        if self._loaded_model is not None:
            return self._loaded_model
        return self._load_model()

    def _load_model(self) -> Any:
        """The checkpoint's model with its vocabulary head, on `device` (a subclass loads another model class)."""
        return load_masked_lm(self.model_folder, self.trust_remote_code).to(resolve_device(self.device))

    @cached_property
    def vocabulary(self) -> list[str]:
        return read_vocabulary(self.model_folder)

    @property
    def spec(self) -> EncoderSpec:
        return EncoderSpec(
            name=self.name,
            kind=self.kind,
            model=self.model_ref,
            max_doc_length=self.max_doc_length,
            max_query_length=self.max_query_length,
            vocab_fingerprint=vocabulary_fingerprint(self.vocabulary),
            params={"activation": self.activation, "doc_top_k": self.doc_top_k, "query_top_k": self.query_top_k,
                    **({"precision": self.precision} if self.precision != PRECISIONS[0] else {})},
        )

    def use_corpus_statistics(self, statistics: CorpusStatistics) -> None:
        """SPLADE queries are the model's own: the corpus does not weigh them."""

    def grow_vocabulary(self, texts: Sequence[str]) -> None:
        """A model's vocabulary is fixed: every text is already written in its tokens."""

    def text_doc_freq(self, texts: Sequence[str]) -> None:
        """SPLADE queries need no text IDF."""
        return None

    def encode_documents(self, texts: Sequence[str]) -> sp.csr_matrix:
        return self._encode(texts, self.max_doc_length, self.doc_top_k)

    def encode_queries(self, texts: Sequence[str]) -> sp.csr_matrix:
        return self._query_side._encode(texts, self.max_query_length, self.query_top_k)

    @cached_property
    def _query_side(self) -> SpladeEncoder:
        """This encoder, or with `query_model` the encoder of another checkpoint over the same vocabulary (an
        asymmetric SPLADE: DiSCo's conversational query encoder over SPLADE++ documents)."""
        if self.query_model is None:
            return self
        side = SpladeEncoder(self.query_model, activation=self.activation, precision=self.precision,
                             batch_size=self.batch_size, threads=self.threads, trust_remote_code=self.trust_remote_code,
                             device=self.device)
        if vocabulary_fingerprint(side.vocabulary) != vocabulary_fingerprint(self.vocabulary):
            raise LexirError(f"query_model {self.query_model!r} has another vocabulary than the documents' model "
                             f"{self.model_ref!r}; its query vectors would name other terms")
        return side

    def _encode(self, texts: Sequence[str], max_length: int, top_k: int | None) -> sp.csr_matrix:
        import torch

        if self.threads:
            torch.set_num_threads(self.threads)
        vocab_size = len(self.vocabulary)
        if not texts:
            return sp.csr_matrix((0, vocab_size), dtype=np.float32)
        matrices, positions = [], []
        device = model_device(self.model)
        autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")
        with torch.inference_mode(), autocast:
            for batch_positions, batch, pooled in self._batches(texts, max_length):
                if batch is None:  # texts with no token to pool: empty vectors
                    matrices.append(sp.csr_matrix((len(batch_positions), vocab_size), dtype=np.float32))
                else:
                    batch = {key: tensor.to(device) for key, tensor in batch.items()}
                    pooled = None if pooled is None else pooled.to(device)
                    weights = activate(max_logits(self.model, batch, self._split_head, pooled).float(),
                                       self.activation)
                    matrices.append(_to_csr(weights.cpu().numpy(), top_k))
                positions.append(batch_positions)
        stacked = sp.vstack(matrices, format="csr", dtype=np.float32)
        return stacked[np.argsort(np.concatenate(positions))]  # back to the order of `texts`

    def _batches(self, texts: Sequence[str], max_length: int) -> Iterator[tuple[np.ndarray, Any, Any]]:
        """(positions in `texts`, padded batch or None for texts with nothing to pool, positions to pool or None
        for every attended one)."""
        for positions, batch in length_sorted_batches(self.tokenizer, texts, max_length, self.batch_size):
            yield positions, batch, None

    @cached_property
    def _split_head(self) -> tuple[Any, Any, Any] | None:
        """(transform, decoder weight, decoder bias) of the MLM head, or None where it cannot be split."""
        return split_mlm_head(self.model)


def spec_settings(spec: EncoderSpec, names: Sequence[str]) -> dict[str, Any]:
    """The settings `names` of a SPLADE document side as `spec` records them (absent ones: the defaults)."""
    recorded = {"max_doc_length": spec.max_doc_length or DEFAULT_MAX_DOC_LENGTH,
                "max_query_length": spec.max_query_length or DEFAULT_MAX_QUERY_LENGTH,
                "doc_top_k": spec.params.get("doc_top_k"), "query_top_k": spec.params.get("query_top_k"),
                "activation": spec.params.get("activation", ACTIVATIONS[0]),
                "precision": spec.params.get("precision", PRECISIONS[0])}
    return {name: recorded[name] for name in names}


def max_logits(model: Any, batch: Any, head: tuple[Any, Any, Any] | None, pooled: Any = None) -> Any:
    """Per text of `batch`, the max over its non-padding tokens of the MLM logits: [texts, vocabulary].

    `pooled` (a [texts, positions] bool mask, default the attention mask) limits the max to some of the
    attended positions: echo pooling (lexir.encoders.echo) attends to both copies of a text and pools the second.

    With a split head (`split_mlm_head`) on a CPU, the hidden states of the non-padding tokens are transformed
    once, then projected onto the vocabulary in cache-sized pieces: blocks of about TOKEN_BLOCK tokens (whole
    texts) times VOCAB_TILE columns, each piece reduced at once to its per-text max. The full [tokens x
    vocabulary] logits never exist, and each piece is small enough to stay in the CPU cache between the matrix
    product that writes it and the max that reads it, which is what makes the projection compute-bound instead
    of memory-bound. The max runs over each run of equal-length texts as one [texts x length x columns] view
    (texts arrive sorted by length, so runs are long): one call per run, where torch.segment_reduce was twice
    as slow. Elsewhere (a GPU, or a head that cannot be split) the max runs over the padded logits with padding
    masked out. Both are differentiable: training (lexir.train.student) calls this with gradients on; the
    pieces are joined with torch.cat, whose backward is a slice, not written into one tensor in place.
    """
    import torch

    mask = batch["attention_mask"].bool() if pooled is None else pooled
    if head is None or mask.device.type != "cpu":
        logits = model(**batch).logits
        return logits.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=1)
    transform, weight, bias = head
    hidden = transform(model.base_model(**batch).last_hidden_state[mask])
    lengths = mask.sum(dim=1).tolist()
    blocks = []
    for first, last, start, end in _token_blocks(lengths, TOKEN_BLOCK):
        block, runs = hidden[start:end], _equal_length_runs(lengths[first:last])
        tiles = []
        for column in range(0, weight.shape[0], VOCAB_TILE):
            logits = torch.addmm(bias[column:column + VOCAB_TILE], block, weight[column:column + VOCAB_TILE].T)
            tiles.append(torch.cat([logits[row:row + count * length].view(count, length, -1).amax(dim=1)
                                    for _, count, length, row in runs]))
        blocks.append(torch.cat(tiles, dim=1))
    return torch.cat(blocks)


def _token_blocks(lengths: list[int], budget: int) -> list[tuple[int, int, int, int]]:
    """Consecutive texts grouped into blocks of at most `budget` tokens (a longer text is a block of its own):
    (first text, end text, first token row, end token row) for each block."""
    blocks, first, start, row = [], 0, 0, 0
    for index, length in enumerate(lengths):
        if row + length - start > budget and index > first:
            blocks.append((first, index, start, row))
            first, start = index, row
        row += length
    if lengths:
        blocks.append((first, len(lengths), start, row))
    return blocks


def _equal_length_runs(lengths: list[int]) -> list[tuple[int, int, int, int]]:
    """Maximal runs of consecutive texts of one length: (first text, texts, length, first token row)."""
    runs: list[tuple[int, int, int, int]] = []
    row = 0
    for index, length in enumerate(lengths):
        if runs and runs[-1][2] == length:
            text, count, _, first_row = runs[-1]
            runs[-1] = (text, count + 1, length, first_row)
        else:
            runs.append((index, 1, length, row))
        row += length
    return runs


def split_mlm_head(model: Any) -> tuple[Any, Any, Any] | None:
    """Split a masked LM's head into (token transform, vocabulary weight, vocabulary bias).

    Works for heads that are one module (`cls` in BERT, `lm_head` in RoBERTa-likes) ending in the
    output-embedding Linear: the transform is the head with that Linear replaced by identity. It shares every
    parameter with the model (only the modules on the path to the Linear are copied, shallowly), so it follows
    weights that training changes and passes gradients to them.
    """
    decoder = model.get_output_embeddings()
    if decoder is None or getattr(decoder, "bias", None) is None:
        return None
    for attribute in ("cls", "lm_head"):
        head = getattr(model, attribute, None)
        path = next((name for name, module in head.named_modules() if module is decoder), None) if head else None
        if path:
            return _without(head, path), decoder.weight, decoder.bias
    return None


def _without(module: Any, path: str) -> Any:
    """A shallow copy of `module` whose submodule at the dotted `path` is the identity; all else is shared."""
    import copy

    import torch

    name, _, rest = path.partition(".")
    clone = copy.copy(module)
    clone.__dict__["_modules"] = dict(module._modules)  # the copy's own table of children
    clone._modules[name] = _without(module._modules[name], rest) if rest else torch.nn.Identity()
    return clone


def _to_csr(dense: np.ndarray, top_k: int | None) -> sp.csr_matrix:
    if top_k is not None and top_k < dense.shape[1]:
        cutoff = np.partition(dense, -top_k, axis=1)[:, -top_k][:, None]
        dense = np.where(dense >= cutoff, dense, 0.0)
    return sp.csr_matrix(dense, dtype=np.float32)
