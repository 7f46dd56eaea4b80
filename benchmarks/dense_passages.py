"""Do long documents gain from being encoded as passages? MiniLM's first 256 tokens (what a lexir dense index
holds) against the best passage (MaxP) and the mean of the passages' vectors (MeanP), alone and fused with
offline-best's sparse side, on a dev split.

    .venv/bin/python benchmarks/dense_passages.py DATASET CORPUS SPARSE_INDEX WORKDIR
    .venv/bin/python benchmarks/dense_passages.py beir/nfcorpus/dev beir/nfcorpus /tmp/rel3/final/nf-k0.9-b0.55 /tmp/dp

79% of NFCorpus documents are longer than MiniLM's 256 tokens (median 357), so a dense index sees only their
start. Every document is cut into windows of 254 word pieces (plus [CLS] and [SEP]) every 192 pieces; the first
window is exactly the text a dense index encodes, so FirstP here reproduces `lexir eval`'s dense side. The
passage vectors are cached in WORKDIR (NFCorpus: 7,356 passages, ~10 minutes on one core). Each side is scored
alone and with the preset's dense Rocchio feedback (MaxP feeds back each top document's best passage), then fused
with the preset's sparse lists (BM25 + RM3 from SPARSE_INDEX) at the preset's weight and at the best weight.
Prints one tab-separated line per variant. Refuses test splits: it compares candidates for a choice.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from offline_best_sweep import DEPTH, lists, tune_alpha

from lexir.corpus import Corpus
from lexir.encoders.dense import DenseEncoder, pool
from lexir.eval.datasets import EvalDataset, load_dataset
from lexir.eval.measures import parse_measures, score_run
from lexir.eval.runs import run_from_hits
from lexir.presets import load_preset
from lexir.search import SearchOptions
from lexir.search.fusion import Ranking, fuse

WINDOW, STRIDE = 254, 192  # word pieces per passage (without [CLS] and [SEP]) and between passage starts


def passages(encoder: DenseEncoder, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors of every passage of `texts` and, per passage, the index of its text."""
    tokenizer = encoder.tokenizer
    windows, owner = [], []
    for number, ids in enumerate(tokenizer(texts, add_special_tokens=False)["input_ids"]):
        for start in range(0, max(len(ids) - WINDOW, 0) + STRIDE, STRIDE):
            windows.append([tokenizer.cls_token_id, *ids[start:start + WINDOW], tokenizer.sep_token_id])
            owner.append(number)
            if start + WINDOW >= len(ids):
                break
    vectors = np.zeros((len(windows), encoder.dim), dtype=np.float32)
    order = np.argsort([len(window) for window in windows], kind="stable")
    with torch.inference_mode():
        for start in range(0, len(order), 32):
            rows = order[start:start + 32]
            width = max(len(windows[row]) for row in rows)
            ids = torch.zeros((len(rows), width), dtype=torch.long)
            mask = torch.zeros_like(ids)
            for line, row in enumerate(rows):
                ids[line, :len(windows[row])] = torch.tensor(windows[row])
                mask[line, :len(windows[row])] = 1
            pooled = pool(encoder.model(input_ids=ids, attention_mask=mask).last_hidden_state, mask, "mean")
            vectors[rows] = torch.nn.functional.normalize(pooled, p=2, dim=1).numpy()
    return vectors, np.asarray(owner)


class PassageSides:
    """The three dense sides over one collection's passage vectors."""

    def __init__(self, vectors: np.ndarray, owner: np.ndarray, doc_ids: np.ndarray) -> None:
        self.vectors, self.owner, self.doc_ids = vectors, owner, doc_ids
        firsts = np.unique(owner, return_index=True)[1]
        self.first = vectors[firsts]
        mean = np.zeros_like(self.first)
        np.add.at(mean, owner, vectors)
        self.mean = mean / np.linalg.norm(mean, axis=1, keepdims=True)

    def scores(self, query: np.ndarray, kind: str) -> np.ndarray:
        if kind == "FirstP":
            return self.first @ query
        if kind == "MeanP":
            return self.mean @ query
        best = np.full(len(self.doc_ids), -np.inf, dtype=np.float32)
        np.maximum.at(best, self.owner, self.vectors @ query)
        return best

    def feedback(self, query: np.ndarray, top: np.ndarray, kind: str) -> np.ndarray:
        """The top documents' vectors that dense Rocchio averages (MaxP: each document's best passage)."""
        if kind == "FirstP":
            return self.first[top]
        if kind == "MeanP":
            return self.mean[top]
        rows = [np.flatnonzero(self.owner == doc) for doc in top]
        return np.stack([self.vectors[row[np.argmax(self.vectors[row] @ query)]] for row in rows])

    def ranking(self, query: np.ndarray, kind: str, prf_docs: int, prf_weight: float) -> Ranking:
        scores = self.scores(query, kind)
        if prf_docs:
            top = np.argsort(-scores, kind="stable")[:prf_docs]
            moved = prf_weight * query + (1 - prf_weight) * self.feedback(query, top, kind).mean(axis=0)
            scores = self.scores(moved / np.linalg.norm(moved), kind)
        top = np.argsort(-scores, kind="stable")[:DEPTH + 1]
        return Ranking(self.doc_ids[top], scores[top].astype(np.float32))


def ndcg(rankings: list[Ranking], dataset: EvalDataset) -> float:
    topics = [topic for topic in dataset.topics if topic.searchable]
    hits = [[(str(key), float(score)) for key, score in zip(one.keys[:101], one.scores[:101])] for one in rankings]
    run = run_from_hits(topics, hits, 100, dataset.is_beir)
    return score_run(run, dataset.qrels, parse_measures(["nDCG@10"]),
                     [topic.query_id for topic in dataset.topics])[0]["nDCG@10"]


def main(dataset_name: str, corpus: str, sparse_index: str, workdir: str) -> None:
    if dataset_name.rstrip("/").endswith("test"):
        raise SystemExit("refusing a test split: give the dev split")
    dataset = load_dataset(dataset_name)
    queries = [topic.query for topic in dataset.topics if topic.searchable]
    encoder = DenseEncoder("minilm", threads=1)
    cache = Path(workdir)
    if not (cache / "owner.npy").is_file():
        documents = list(Corpus(corpus))
        vectors, owner = passages(encoder, [document.contents for document in documents])
        cache.mkdir(parents=True, exist_ok=True)
        np.save(cache / "vectors.npy", vectors)
        np.save(cache / "doc_ids.npy", np.array([document.id for document in documents]))
        np.save(cache / "owner.npy", owner)
    sides = PassageSides(np.load(cache / "vectors.npy"), np.load(cache / "owner.npy"), np.load(cache / "doc_ids.npy"))
    preset = load_preset("offline-best").options
    sparse = lists(sparse_index, SearchOptions(prf=preset.prf), queries)
    print(f"sparse side alone\t{ndcg(sparse, dataset):.4f}")
    print("dense side\tfeedback\talone\tfused at the preset's weights\tbest dense weight\tfused at it")
    query_vectors = encoder.encode(queries)
    for kind in ("FirstP", "MaxP", "MeanP"):
        for prf_docs in (0, preset.dense_prf.docs):
            dense = [sides.ranking(query, kind, prf_docs, preset.dense_prf.weight) for query in query_vectors]
            fused = ndcg([fuse([one, other], preset.fusion, DEPTH + 1) for one, other in zip(sparse, dense)], dataset)
            alpha, best = tune_alpha(sparse, dense, dataset)
            print(f"{kind}\t{'rocchio' if prf_docs else 'none'}\t{ndcg(dense, dataset):.4f}\t{fused:.4f}\t{alpha}"
                  f"\t{best:.4f}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5])
