"""The inference-free student: a masked LM that encodes documents, and an IDF vector that weighs queries.

Documents are encoded as at index time, by the same pooling function (lexir.encoders.splade.max_logits, then
log(1 + relu)): on a CPU only non-padding tokens go through the MLM head, projected onto the vocabulary in
cache-sized pieces, so padding costs neither projection nor gradient; on other devices (a GPU, where the waste
matters less) the max runs over the padded logits with padding masked out. Queries are token sets weighted by
relu(idf), as InferenceFreeEncoder weighs them (binary tf, special tokens dropped).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from lexir.encoders.hf import load_masked_lm, load_tokenizer
from lexir.encoders.splade import activate, max_logits, split_mlm_head


class InferenceFreeStudent(torch.nn.Module):
    """Document encoder + IDF query weights; `train_idf` makes the IDF a trained parameter."""

    def __init__(self, model_folder: str, idf: np.ndarray, *, train_idf: bool = False,
                 max_doc_length: int = 128) -> None:
        super().__init__()
        self.model_folder = model_folder
        self.mlm = load_masked_lm(model_folder)
        self.mlm.train()
        self.tokenizer = load_tokenizer(model_folder)
        self.idf = torch.nn.Parameter(torch.tensor(idf, dtype=torch.float32), requires_grad=train_idf)
        self.max_doc_length = max_doc_length
        self.special_ids = sorted(set(self.tokenizer.all_special_ids))
        self._split_head = split_mlm_head(self.mlm)  # a tuple, not a submodule: it shares the MLM's parameters

    @property
    def device(self) -> torch.device:
        return self.idf.device

    def document_weights(self, texts: Sequence[str], max_length: int | None = None) -> torch.Tensor:
        """[len(texts), V] document vectors, differentiable (at most `max_length` tokens: default, the
        training length)."""
        batch = self.tokenizer(list(texts), truncation=True, max_length=max_length or self.max_doc_length,
                               padding=True, return_tensors="pt").to(self.device)
        return activate(max_logits(self.mlm, batch, self._split_head), "log1p_relu")

    def query_weights(self, texts: Sequence[str]) -> torch.Tensor:
        """[len(texts), V] query vectors: relu(idf) on each distinct non-special token, 0 elsewhere."""
        token_ids = self.tokenizer(list(texts), truncation=True, max_length=64, add_special_tokens=False)["input_ids"]
        present = torch.zeros((len(texts), self.idf.shape[0]), device=self.device)
        for row, ids in enumerate(token_ids):
            present[row, ids] = 1.0
        present[:, self.special_ids] = 0.0
        return present * torch.relu(self.idf)

    def scores(self, queries: Sequence[str], documents: Sequence[str], group_size: int) -> tuple[torch.Tensor,
                                                                                                 torch.Tensor]:
        """Scores [Q, group_size] of each query against its own group of documents (documents are the
        concatenation of the groups), and the document vectors [Q * group_size, V] for the penalty."""
        doc_weights = self.document_weights(documents)
        grouped = doc_weights.view(len(queries), group_size, -1)
        return torch.einsum("qv,qgv->qg", self.query_weights(queries), grouped), doc_weights

    def idf_table(self) -> dict[str, float]:
        """The query IDF as an OpenSearch idf.json table (tokens with a positive weight)."""
        idf = torch.relu(self.idf.detach()).cpu().numpy()
        vocabulary = self.tokenizer.convert_ids_to_tokens(list(range(len(idf))))
        special = set(self.special_ids)
        return {token: float(idf[i]) for i, token in enumerate(vocabulary) if idf[i] > 0 and i not in special}

    def save_pretrained(self, folder: Any) -> None:
        """A Hugging Face masked-LM folder (weights, config, tokenizer), without the IDF."""
        self.mlm.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
