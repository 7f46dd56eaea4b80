"""SPLADE over a decoder-only (causal) LM with echo pooling, after Mistral-SPLADE (Doshi et al., 2024).

A causal LM's token i sees only tokens 0..i, so SPLADE's max over a text's tokens would give early tokens a view
of the text's beginning only. Echo embeddings (Springer et al., 2024) repeat the input and pool only the second
copy, whose every token has seen the whole text once: the model reads

    [BOS] echo_prefix  t_1 .. t_n  echo_infix  t_1 .. t_n

(t: the text's own tokens, at most max_length of them; prefix and infix: optional instruction strings, empty by
default, i.e. the plain repeat of Mistral-SPLADE) and term j weighs max over the second copy's positions i of
act(logits[i, j]), act as in SPLADE (log(1 + relu(x))). The vocabulary is the LM's own (byte-level BPE pieces such
as "Ġword", SentencePiece pieces such as "▁word"), so an index's terms are those strings. The head is the LM's
output projection (no transform, no bias), run on the pooled positions only, in the tiles of
`splade.max_logits`. A text with no tokens gets an empty vector.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import Any

import numpy as np

from lexir.encoders.base import EncoderSpec, check_options
from lexir.encoders.device import resolve_device
from lexir.encoders.hf import is_causal_lm, load_causal_lm, local_model_folder
from lexir.encoders.splade import SpladeEncoder, spec_settings


class EchoSpladeEncoder(SpladeEncoder):
    """SPLADE with a causal LM backbone and echo pooling (see the module docstring).

    Args: those of SpladeEncoder, and `echo_prefix` / `echo_infix`, the strings before the first copy and between
    the copies (e.g. "Rewrite the sentence: " and ", rewritten sentence: ", the template of Springer et al.).
    """

    kind = "echo-splade"
    SETTINGS = SpladeEncoder.SETTINGS + ("echo_prefix", "echo_infix")
    RUNTIME_OPTIONS = tuple(name for name in SpladeEncoder.RUNTIME_OPTIONS if name != "query_model")

    def __init__(self, model: str, *, echo_prefix: str = "", echo_infix: str = "", **options: Any) -> None:
        super().__init__(model, **options)
        self.echo_prefix = echo_prefix
        self.echo_infix = echo_infix

    @classmethod
    def from_spec(cls, spec: EncoderSpec, **runtime: Any) -> EchoSpladeEncoder:
        check_options(runtime, cls.RUNTIME_OPTIONS, spec.name)
        echo = {"echo_prefix": spec.params.get("echo_prefix", ""), "echo_infix": spec.params.get("echo_infix", "")}
        return cls(spec.model or spec.name, name=spec.name, **spec_settings(spec, SpladeEncoder.SETTINGS), **echo,
                   **runtime)

    @property
    def spec(self) -> EncoderSpec:
        base = super().spec
        params = {**base.params, "echo_prefix": self.echo_prefix, "echo_infix": self.echo_infix}
        return EncoderSpec(base.name, self.kind, base.model, base.max_doc_length, base.max_query_length,
                           base.vocab_fingerprint, params)

    def _load_model(self) -> Any:
        return load_causal_lm(self.model_folder, self.trust_remote_code).to(resolve_device(self.device))

    @cached_property
    def _split_head(self) -> tuple[Any, Any, Any]:
        """(identity, output projection, its bias or zeros): the causal LM's base model ends in its final norm."""
        import torch

        decoder = self.model.get_output_embeddings()
        bias = getattr(decoder, "bias", None)
        if bias is None:
            bias = torch.zeros(decoder.weight.shape[0], dtype=decoder.weight.dtype, device=decoder.weight.device)
        return torch.nn.Identity(), decoder.weight, bias

    def echo_inputs(self, texts: Sequence[str], max_length: int) -> list[tuple[list[int], int, int]]:
        """Per text, (model input ids, start, end): the second copy is input ids [start, end)."""
        tokenizer = self.tokenizer
        pieces = tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=max_length)["input_ids"]
        lead = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
        prefix, infix = (tokenizer(part, add_special_tokens=False)["input_ids"] if part else []
                         for part in (self.echo_prefix, self.echo_infix))
        inputs = []
        for ids in pieces:
            first = lead + prefix + ids + infix
            inputs.append((first + ids, len(first), len(first) + len(ids)))
        return inputs

    def _batches(self, texts: Sequence[str], max_length: int) -> Iterator[tuple[np.ndarray, Any, Any]]:
        """Echo inputs, longest first, right-padded (a causal LM's real tokens never see the padding after them);
        the pooled mask covers each text's second copy."""
        import torch

        inputs = self.echo_inputs(texts, max_length)
        empty = np.array([i for i, (_, start, end) in enumerate(inputs) if end == start], dtype=np.int64)
        if len(empty):
            yield empty, None, None
        by_length = np.argsort([-len(ids) for ids, _, _ in inputs], kind="stable")
        order = [i for i in by_length if inputs[i][2] > inputs[i][1]]
        pad = next((i for i in (self.tokenizer.pad_token_id, self.tokenizer.eos_token_id) if i is not None), 0)
        for first in range(0, len(order), self.batch_size):
            positions = np.array(order[first:first + self.batch_size], dtype=np.int64)
            width = len(inputs[positions[0]][0])
            ids = torch.full((len(positions), width), pad, dtype=torch.long)
            attention = torch.zeros((len(positions), width), dtype=torch.long)
            pooled = torch.zeros((len(positions), width), dtype=torch.bool)
            for row, position in enumerate(positions):
                text_ids, start, end = inputs[position]
                ids[row, :len(text_ids)] = torch.tensor(text_ids)
                attention[row, :len(text_ids)] = 1
                pooled[row, start:end] = True
            yield positions, {"input_ids": ids, "attention_mask": attention}, pooled


def splade_class(model: str, model_folder: str | None = None) -> type[SpladeEncoder]:
    """The SPLADE encoder class for a model: EchoSpladeEncoder for a causal LM, SpladeEncoder for a masked LM
    (and for a hub id that is neither here nor reachable: it fails with the offline error when it loads)."""
    folder = model_folder or local_model_folder(model)
    return EchoSpladeEncoder if folder is not None and is_causal_lm(folder) else SpladeEncoder
