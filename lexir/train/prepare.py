"""Training data: queries with candidate lists mined by BM25 and the sparse teacher, scored by both teachers.

For each pool (a corpus), BM25 and the siamese sparse teacher (splade-tiny) each retrieve their top
`candidates` documents for every query, exactly (sparse matrix products over the pool); the list is the
query's labelled positives followed by the union of those, minus positives and excluded documents. The
sparse teacher (dot product), the dense teacher (MiniLM, cosine) and BM25 (fitted on the pool) then score
every listed document, so that training can normalize and combine any of them per query without running a
teacher again. The query IDF the student starts from is the BM25 IDF of the student tokenizer's tokens over
all pools' texts.

Prepared data is cached by its options (`<cache>/train-data/<hash>`), written to a staging folder and
renamed into place when complete, so ablation runs share it and an interrupted preparation leaves nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

from lexir.encoders.bm25 import BM25Encoder
from lexir.encoders.idf import IDF_FILE, text_idf_table
from lexir.errors import LexirError
from lexir.train.pairs import Pool, TrainingQuery, ict_queries, load_pool, supervised_queries

logger = logging.getLogger(__name__)

LISTS_FILE, TEXTS_FILE, SUMMARY_FILE = "lists.jsonl", "texts.jsonl", "data.json"
DATA_FORMAT = 2  # part of the cache key: 2 added the BM25 teacher's scores
ENCODE_CHUNK = 256


@dataclass(frozen=True)
class DataOptions:
    """Everything that decides the prepared data (its cache key)."""

    supervised: tuple[str, ...] = ("beir/nfcorpus/train",)
    ict_corpora: tuple[str, ...] = ()
    ict_pairs: int = 1000
    ict_pool_docs: int | None = 5000
    max_queries: int | None = None
    candidates: int = 20
    min_negatives: int = 5
    sparse_teacher: str = "splade-tiny"
    dense_teacher: str = "minilm"
    student_tokenizer: str = "splade-tiny"
    seed: int = 13

    def key(self) -> str:
        return hashlib.sha256(json.dumps({**asdict(self), "format": DATA_FORMAT}, sort_keys=True).encode()
                              ).hexdigest()[:12]


@dataclass
class TrainingList:
    """A query, its candidates (the first `num_positives` are labelled positives) and each teacher's scores."""

    query: str
    keys: list[str]
    num_positives: int
    teacher_scores: dict[str, list[float]]
    source: str

    def to_json(self) -> str:
        return json.dumps(asdict(self))


@dataclass
class PreparedData:
    folder: Path
    lists: list[TrainingList]
    texts: dict[str, str]
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def idf_path(self) -> Path:
        return self.folder / IDF_FILE


def prepare_data(options: DataOptions, cache: Path, *, progress: bool = True) -> PreparedData:
    """The prepared data for `options`: read from the cache, or built there."""
    folder = cache / "train-data" / options.key()
    if not (folder / SUMMARY_FILE).is_file():
        _build(options, folder, progress)
    return load_prepared(folder)


def load_prepared(folder: Path) -> PreparedData:
    try:
        summary = json.loads((folder / SUMMARY_FILE).read_text())
        with open(folder / LISTS_FILE, encoding="utf-8") as lines:
            lists = [TrainingList(**json.loads(line)) for line in lines]
        with open(folder / TEXTS_FILE, encoding="utf-8") as lines:
            texts = dict(json.loads(line) for line in lines)
    except (OSError, json.JSONDecodeError, TypeError) as error:
        raise LexirError(f"prepared training data in {folder} is unreadable ({error}); delete the folder") from None
    return PreparedData(folder, lists, texts, summary)


def _build(options: DataOptions, folder: Path, progress: bool) -> None:
    if not options.supervised and not options.ict_corpora:
        raise LexirError("no training data: give a supervised training split (--supervised) and/or an ICT "
                         "corpus (--ict-corpus)")
    rng = random.Random(options.seed)
    texts: dict[str, str] = {}
    pools: dict[str, Pool] = {}
    queries: list[TrainingQuery] = []
    for dataset_id in options.supervised:
        pool, labelled = supervised_queries(dataset_id, texts, rng, options.max_queries)
        pools.setdefault(pool.name, pool)
        queries += labelled
        logger.info("%s: %d labelled queries over %d documents", dataset_id, len(labelled), len(pool.keys))
    for source in options.ict_corpora:
        pool = pools.get(source) or load_pool(source, texts, limit=options.ict_pool_docs, rng=rng)
        pools.setdefault(pool.name, pool)
        made = ict_queries(pool, texts, options.ict_pairs, rng)
        queries += made
        logger.info("%s: %d ICT queries over %d documents", source, len(made), len(pool.keys))

    lists = _mine_and_score(options, pools, queries, texts, progress)
    if not lists:
        raise LexirError("no training query kept a list with a positive and enough negatives; use more data")
    staging = folder.with_name(folder.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with open(staging / LISTS_FILE, "w", encoding="utf-8") as out:
        out.writelines(item.to_json() + "\n" for item in lists)
    referenced = sorted({key for item in lists for key in item.keys})
    with open(staging / TEXTS_FILE, "w", encoding="utf-8") as out:
        out.writelines(json.dumps([key, texts[key]]) + "\n" for key in referenced)
    _write_idf(options.student_tokenizer, [texts[key] for pool in pools.values() for key in pool.keys],
               staging / IDF_FILE)
    sources: dict[str, int] = {}
    for item in lists:
        sources[item.source] = sources.get(item.source, 0) + 1
    summary = {"options": asdict(options), "lists": len(lists), "dropped_queries": len(queries) - len(lists),
               "lists_by_source": sources, "documents": len(referenced),
               "mean_candidates": float(np.mean([len(item.keys) for item in lists]))}
    (staging / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)


def _mine_and_score(options: DataOptions, pools: dict[str, Pool], queries: list[TrainingQuery],
                    texts: dict[str, str], progress: bool) -> list[TrainingList]:
    from lexir.encoders import create_encoder
    from lexir.encoders.registry import create_dense_encoder

    sparse_teacher = create_encoder(options.sparse_teacher)
    dense_teacher = create_dense_encoder(options.dense_teacher)
    lists: list[TrainingList] = []
    for pool in pools.values():
        own = [query for query in queries if query.pool == pool.name]
        if not own:
            continue
        pool_texts = [texts[key] for key in pool.keys]
        query_texts = [query.text for query in own]
        bm25 = BM25Encoder()
        bm25.fit(pool_texts)
        bm25_queries = bm25.encode_queries(query_texts)
        bm25_scores = (bm25_queries @ bm25.encode_documents(pool_texts).T).toarray()
        sparse_docs = _encode(sparse_teacher.encode_documents, pool_texts, f"sparse teacher: {pool.name}", progress)
        sparse_queries = sparse_teacher.encode_queries(query_texts)
        sparse_scores = (sparse_queries @ sparse_docs.T).toarray()
        extra_keys = sorted({key for query in own for key in query.positives} - set(pool.keys))
        extra_docs = _encode(sparse_teacher.encode_documents, [texts[key] for key in extra_keys],
                             "sparse teacher: ICT positives", progress)
        extra_scores = (sparse_queries @ extra_docs.T).toarray() if extra_keys else np.zeros((len(own), 0))
        extra_bm25 = (bm25_queries @ bm25.encode_documents([texts[key] for key in extra_keys]).T).toarray() \
            if extra_keys else np.zeros((len(own), 0))
        column = {key: i for i, key in enumerate(pool.keys)}
        column.update({key: len(pool.keys) + i for i, key in enumerate(extra_keys)})
        sparse_all = np.hstack([sparse_scores, extra_scores])
        bm25_all = np.hstack([bm25_scores, extra_bm25])
        pool_lists = []
        for row, query in enumerate(own):
            mined = _top(bm25_scores[row], options.candidates)
            mined += _top(sparse_scores[row], options.candidates)
            blocked = set(query.positives) | set(query.excluded)
            negatives = list(dict.fromkeys(pool.keys[i] for i in mined if pool.keys[i] not in blocked))
            if len(negatives) < options.min_negatives:
                continue
            keys = query.positives + negatives
            pool_lists.append(TrainingList(query.text, keys, len(query.positives),
                                           {"sparse": [float(sparse_all[row, column[key]]) for key in keys],
                                            "bm25": [float(bm25_all[row, column[key]]) for key in keys]},
                                           query.source))
        _add_dense_scores(dense_teacher, pool_lists, texts, progress)
        lists += pool_lists
    return lists


def _add_dense_scores(teacher: Any, lists: list[TrainingList], texts: dict[str, str], progress: bool) -> None:
    keys = sorted({key for item in lists for key in item.keys})
    vectors = _encode(teacher.encode_documents, [texts[key] for key in keys], "dense teacher", progress)
    row = {key: i for i, key in enumerate(keys)}
    queries = teacher.encode_queries([item.query for item in lists])
    for item, query in zip(lists, queries, strict=True):
        item.teacher_scores["dense"] = (vectors[[row[key] for key in item.keys]] @ query).astype(float).tolist()


def _top(scores: np.ndarray, k: int) -> list[int]:
    """Positions of the k highest positive scores, best first."""
    k = min(k, int((scores > 0).sum()))
    if k == 0:
        return []
    best = np.argpartition(-scores, k - 1)[:k]
    return best[np.argsort(-scores[best], kind="stable")].tolist()


def _encode(encode: Callable[[Sequence[str]], Any], texts: list[str], label: str, progress: bool) -> Any:
    """`encode` over `texts` in chunks, with a progress bar; sparse chunks are stacked, dense ones concatenated."""
    chunks = []
    with tqdm(total=len(texts), desc=label, unit="doc", disable=not progress or not texts) as bar:
        for start in range(0, len(texts), ENCODE_CHUNK):
            chunk = texts[start:start + ENCODE_CHUNK]
            chunks.append(encode(chunk))
            bar.update(len(chunk))
    if not chunks:
        return sp.csr_matrix((0, 1))
    return sp.vstack(chunks, format="csr") if sp.issparse(chunks[0]) else np.vstack(chunks)


def _write_idf(tokenizer_name: str, texts: list[str], path: Path) -> None:
    """BM25 IDF of every vocabulary token over `texts`, tokenized as the student tokenizes documents."""
    from lexir.encoders import create_encoder
    from lexir.encoders.hf import load_fast_tokenizer

    tokenizer = load_fast_tokenizer(create_encoder(tokenizer_name).model_folder)
    path.write_text(json.dumps(text_idf_table(tokenizer, texts), ensure_ascii=False))
