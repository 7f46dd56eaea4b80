"""PromptReps (Zhuang et al., 2024, arXiv:2404.18424): an instruction-tuned LLM, untrained, represents a text by
the word it would answer with.

The LLM is prompted to represent the text in one lowercase word, and the answer is opened for it:

    system:    You are an AI assistant that can understand human language.
    user:      Passage: "{text}". Use one most important word to represent the passage in retrieval task.
               Make sure your word is in lowercase.
    assistant: The word is: "

(queries: "Query" and "the query"). One forward pass gives, at the prompt's last position, the next-token logits
and the last layer's hidden state. The sparse side weighs term j by log(1 + relu(logit_j)), kept only for the
tokens of the text itself (as the text and as its lowercase are tokenized; `text_tokens_only`, as the paper
does); the dense side is the hidden state, scaled to unit length (inner product = cosine). The prompt goes
through the tokenizer's chat template when it has one (a template without a system role gets the system line
at the head of the user message), else as plain lines after BOS.

One pass feeds both sides of one index: `PromptRepsEncoder` (kind "promptreps", the sparse side) and
`PromptRepsDense` (kind "promptreps-dense", the FAISS side) share one `PromptRepsModel` per model and settings
in a process. Encoding documents for the sparse side keeps their dense vectors in a spill file (a temporary
file: dim x 4 bytes a document, emptied once the dense side has taken them all, removed at exit), from which
the dense side takes them instead of running the model again; queries keep both sides of the last QUERY_CACHE
texts, so a hybrid query runs the model once. A build with several worker processes encodes in the workers, so
its dense side runs the model a second time.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any, BinaryIO

import numpy as np
import scipy.sparse as sp

from lexir.encoders.base import CorpusStatistics, EncoderSpec, check_options, vocabulary_fingerprint
from lexir.encoders.device import check_device, model_device, resolve_device
from lexir.encoders.hf import load_causal_lm, load_tokenizer, read_vocabulary, resolve_model_folder
from lexir.errors import LexirError

PREFIX = "promptreps:"
QUERY_CACHE = 1024
SYSTEM_PROMPT = "You are an AI assistant that can understand human language."
DOC_PROMPT = ('Passage: "{text}". Use one most important word to represent the passage in retrieval task. '
              "Make sure your word is in lowercase.")
QUERY_PROMPT = ('Query: "{text}". Use one most important word to represent the query in retrieval task. '
                "Make sure your word is in lowercase.")
ANSWER_PREFIX = 'The word is: "'


@dataclass(frozen=True)
class PromptSettings:
    """Everything that changes either side's vectors (recorded in both specs)."""

    system_prompt: str = SYSTEM_PROMPT
    doc_prompt: str = DOC_PROMPT
    query_prompt: str = QUERY_PROMPT
    answer_prefix: str = ANSWER_PREFIX
    text_tokens_only: bool = True
    max_doc_length: int = 512
    max_query_length: int = 64

    def __post_init__(self) -> None:
        for label in ("doc_prompt", "query_prompt"):
            if "{text}" not in getattr(self, label):
                raise LexirError(f"{label} must hold {{text}}, where the text goes; got {getattr(self, label)!r}")
        for label in ("max_doc_length", "max_query_length"):
            if getattr(self, label) < 1:
                raise LexirError(f"{label} must be at least 1, got {getattr(self, label)}")


SETTINGS = tuple(PromptSettings.__dataclass_fields__)
RUNTIME_OPTIONS = ("batch_size", "threads", "trust_remote_code", "device")


class PromptRepsModel:
    """One LLM and its caches, shared by the sparse and dense encoders of the same model, settings and device."""

    def __init__(self, model: str, settings: PromptSettings, trust_remote_code: bool = False, device: str = "cpu"
                 ) -> None:
        self.model_ref = model
        self.settings = settings
        self.trust_remote_code = trust_remote_code
        self.device = check_device(device)
        self.passes = 0  # texts the model has run on (the tests count them)
        self._queries: OrderedDict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = OrderedDict()
        self._spill: BinaryIO | None = None
        self._spilled: dict[bytes, int] = {}

    @cached_property
    def folder(self) -> str:
        return resolve_model_folder(self.model_ref)

    @cached_property
    def tokenizer(self) -> Any:
        return load_tokenizer(self.folder, self.trust_remote_code)

    @cached_property
    def model(self) -> Any:
        return load_causal_lm(self.folder, self.trust_remote_code).to(resolve_device(self.device))

    @cached_property
    def vocabulary(self) -> list[str]:
        return read_vocabulary(self.folder)

    @cached_property
    def dim(self) -> int:
        import json
        from pathlib import Path

        return int(json.loads((Path(self.folder) / "config.json").read_text(encoding="utf-8"))["hidden_size"])

    def prompt_ids(self, text: str, role: str) -> list[int]:
        """The model input for `text` as a document or a query ("doc" / "query"), the text cut to its limit."""
        tokenizer, settings = self.tokenizer, self.settings
        limit = settings.max_doc_length if role == "doc" else settings.max_query_length
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        shown = tokenizer.decode(ids[:limit]) if len(ids) > limit else text
        user = (settings.doc_prompt if role == "doc" else settings.query_prompt).replace("{text}", shown)
        if getattr(tokenizer, "chat_template", None):
            prompt = self._chat(user) + settings.answer_prefix
            return tokenizer(prompt, add_special_tokens=False)["input_ids"]
        lead = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
        prompt = f"{settings.system_prompt}\n\n{user}\n\n{settings.answer_prefix}"
        return lead + tokenizer(prompt, add_special_tokens=False)["input_ids"]

    def _chat(self, user: str) -> str:
        from jinja2 import TemplateError

        system = self.settings.system_prompt
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        try:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except TemplateError:  # templates without a system role (Mistral's) raise; fold it into the user turn
            return self.tokenizer.apply_chat_template([{"role": "user", "content": f"{system}\n\n{user}"}],
                                                      tokenize=False, add_generation_prompt=True)

    def text_token_ids(self, text: str, role: str) -> np.ndarray:
        """The vocabulary ids a text's sparse vector may hold: its tokens, as written and lowercased."""
        limit = self.settings.max_doc_length if role == "doc" else self.settings.max_query_length
        special = set(self.tokenizer.all_special_ids)
        ids = {i for form in (text, text.lower())
               for i in self.tokenizer(form, add_special_tokens=False)["input_ids"][:limit] if i not in special}
        return np.array(sorted(ids), dtype=np.int64)

    def run(self, texts: Sequence[str], role: str, batch_size: int) -> tuple[sp.csr_matrix, np.ndarray]:
        """Both sides of `texts`, one model pass each: (sparse rows, unit dense vectors)."""
        import torch

        vocab_size = len(self.vocabulary)
        inputs = [self.prompt_ids(text, role) for text in texts]
        logits = np.zeros((len(texts), vocab_size), dtype=np.float32)
        dense = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([-len(ids) for ids in inputs], kind="stable")
        pad = next((i for i in (self.tokenizer.pad_token_id, self.tokenizer.eos_token_id) if i is not None), 0)
        head = self.model.get_output_embeddings()
        device = model_device(self.model)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start:start + batch_size]
                width = len(inputs[rows[0]])
                ids = torch.full((len(rows), width), pad, dtype=torch.long)
                attention = torch.zeros((len(rows), width), dtype=torch.long)
                for row, position in enumerate(rows):  # right padding: real tokens never see it (causal)
                    ids[row, :len(inputs[position])] = torch.tensor(inputs[position])
                    attention[row, :len(inputs[position])] = 1
                ids, attention = ids.to(device), attention.to(device)
                hidden = self.model.base_model(input_ids=ids, attention_mask=attention).last_hidden_state
                last = hidden[torch.arange(len(rows), device=device), attention.sum(dim=1) - 1]
                logits[rows] = head(last).float().cpu().numpy()
                dense[rows] = torch.nn.functional.normalize(last.float(), dim=1).cpu().numpy()
        self.passes += len(texts)
        weights = np.log1p(np.maximum(logits, 0.0))
        if self.settings.text_tokens_only:
            kept = np.zeros_like(weights)
            for row, text in enumerate(texts):
                ids = self.text_token_ids(text, role)
                kept[row, ids] = weights[row, ids]
            weights = kept
        return sp.csr_matrix(weights, dtype=np.float32), dense

    def documents(self, texts: Sequence[str], batch_size: int) -> sp.csr_matrix:
        """Sparse document rows; their dense vectors go to the spill file for the dense side."""
        rows, dense = self.run(texts, "doc", batch_size)
        spill = self._spill_file()
        for text, vector in zip(texts, dense):
            spill.seek(0, 2)
            self._spilled[_key(text)] = spill.tell() // (4 * self.dim)
            spill.write(vector.tobytes())
        return rows

    def document_vectors(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        """Dense document vectors: from the spill file where the sparse side encoded the text (each taken once),
        else the model."""
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        missing = []
        for i, text in enumerate(texts):
            row = self._spilled.pop(_key(text), None)
            if row is None:
                missing.append(i)
                continue
            assert self._spill is not None
            self._spill.seek(row * 4 * self.dim)
            vectors[i] = np.frombuffer(self._spill.read(4 * self.dim), dtype=np.float32)
        if self._spill is not None and not self._spilled:  # every spilled vector taken: the file starts over
            self._spill.truncate(0)
        if missing:
            vectors[missing] = self.run([texts[i] for i in missing], "doc", batch_size)[1]
        return vectors

    def queries(self, texts: Sequence[str], batch_size: int) -> tuple[sp.csr_matrix, np.ndarray]:
        """Both sides of queries, the last QUERY_CACHE kept, so the other side of a hybrid search reuses them."""
        cache = self._queries
        new = list(dict.fromkeys(text for text in texts if text not in cache))
        if new:
            rows, dense = self.run(new, "query", batch_size)
            for i, text in enumerate(new):
                row = rows.getrow(i)
                cache[text] = (row.indices.copy(), row.data.copy(), dense[i])
                while len(cache) > QUERY_CACHE:
                    cache.popitem(last=False)
        found = [cache[text] for text in texts]
        for text in texts:
            cache.move_to_end(text)
        indptr = np.cumsum([0] + [len(indices) for indices, _, _ in found])
        indices = np.concatenate([indices for indices, _, _ in found]) if found else np.zeros(0, np.int64)
        data = np.concatenate([data for _, data, _ in found]) if found else np.zeros(0, np.float32)
        sparse = sp.csr_matrix((data, indices, indptr), shape=(len(texts), len(self.vocabulary)), dtype=np.float32)
        dense = np.stack([vector for _, _, vector in found]) if found else np.zeros((0, self.dim), np.float32)
        return sparse, dense

    def _spill_file(self) -> BinaryIO:
        if self._spill is None:
            self._spill = tempfile.TemporaryFile(prefix="lexir-promptreps-")
        return self._spill


def _key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


_SHARED: dict[tuple[str, PromptSettings, bool, str], PromptRepsModel] = {}


def shared_model(model: str, settings: PromptSettings, trust_remote_code: bool, device: str = "cpu"
                 ) -> PromptRepsModel:
    """The process's PromptRepsModel for `model`, `settings` and `device` (both sides of an index find the same
    one)."""
    key = (model, settings, trust_remote_code, device)
    if key not in _SHARED:
        _SHARED[key] = PromptRepsModel(model, settings, trust_remote_code, device)
    return _SHARED[key]


def model_of(name: str) -> str:
    """MODEL of `promptreps:MODEL`, with a one-line error for a bare prefix."""
    model = name[len(PREFIX):] if name.startswith(PREFIX) else name
    if not model.strip():
        raise LexirError("promptreps needs a model: --encoder promptreps:MODEL (a hub id or folder of an "
                         "instruction-tuned causal LM)")
    return model


class _PromptRepsSide:
    """What both sides share: settings, the shared model, spec fields, pickling."""

    kind = ""

    def __init__(self, model: str, *, name: str | None = None, batch_size: int = 8, threads: int | None = None,
                 trust_remote_code: bool = False, device: str = "cpu", **settings: Any) -> None:
        if batch_size < 1:
            raise LexirError(f"batch_size must be at least 1, got {batch_size}")
        self.model_ref = model_of(model)
        self.name = name or PREFIX + self.model_ref
        self.settings = PromptSettings(**settings)
        self.batch_size = batch_size
        self.threads = threads
        self.trust_remote_code = trust_remote_code
        self.device = check_device(device)  # runtime, as threads: not in the spec

    @classmethod
    def from_spec(cls, spec: EncoderSpec, **runtime: Any) -> Any:
        check_options(runtime, RUNTIME_OPTIONS, spec.name)
        settings = {key: spec.params[key] for key in SETTINGS if key in spec.params}
        lengths = {key: value for key, value in (("max_doc_length", spec.max_doc_length),
                                                  ("max_query_length", spec.max_query_length)) if value is not None}
        return cls(spec.model or spec.name, name=spec.name, **settings, **lengths, **runtime)

    @property
    def shared(self) -> PromptRepsModel:
        if self.threads:
            import torch

            torch.set_num_threads(self.threads)
        return shared_model(self.model_ref, self.settings, self.trust_remote_code, self.device)

    @property
    def model(self) -> Any:
        return self.shared.model

    def _spec(self, **extra: Any) -> EncoderSpec:
        settings = asdict(self.settings)
        return EncoderSpec(name=self.name, kind=self.kind, model=self.model_ref,
                           max_doc_length=settings.pop("max_doc_length"),
                           max_query_length=settings.pop("max_query_length"),
                           vocab_fingerprint=vocabulary_fingerprint(self.shared.vocabulary),
                           params={**settings, **extra})


class PromptRepsEncoder(_PromptRepsSide):
    """The sparse side of PromptReps (see the module docstring); `dense_side()` is its FAISS side."""

    kind = "promptreps"
    SETTINGS = SETTINGS
    RUNTIME_OPTIONS = RUNTIME_OPTIONS
    added_terms: tuple[str, ...] = ()
    uses_corpus_statistics = False

    @property
    def spec(self) -> EncoderSpec:
        return self._spec()

    @property
    def vocabulary(self) -> list[str]:
        return self.shared.vocabulary

    def dense_side(self) -> PromptRepsDense:
        """The dense encoder of the same model and settings (it reads the vectors this side's pass made)."""
        return PromptRepsDense(self.model_ref, name=self.name, batch_size=self.batch_size, threads=self.threads,
                               trust_remote_code=self.trust_remote_code, device=self.device, **asdict(self.settings))

    def encode_documents(self, texts: Sequence[str]) -> sp.csr_matrix:
        return self.shared.documents(list(texts), self.batch_size)

    def encode_queries(self, texts: Sequence[str]) -> sp.csr_matrix:
        return self.shared.queries(list(texts), self.batch_size)[0]

    def use_corpus_statistics(self, statistics: CorpusStatistics) -> None:
        """PromptReps queries are the model's own: the corpus does not weigh them."""

    def grow_vocabulary(self, texts: Sequence[str]) -> None:
        """A model's vocabulary is fixed."""

    def text_doc_freq(self, texts: Sequence[str]) -> None:
        return None


class PromptRepsDense(_PromptRepsSide):
    """The dense side of PromptReps: the prompt's last hidden state, unit length."""

    kind = "promptreps-dense"
    SETTINGS = SETTINGS
    RUNTIME_OPTIONS = RUNTIME_OPTIONS

    @property
    def dim(self) -> int:
        return self.shared.dim

    @property
    def spec(self) -> EncoderSpec:
        return self._spec(dim=self.dim, normalize=True)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.shared.document_vectors(list(texts), self.batch_size)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.shared.queries(list(texts), self.batch_size)[1]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode_queries(texts)
