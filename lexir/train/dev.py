"""Validation during training: the student's nDCG@10 on a dev split, to pick the checkpoint that ships.

The dev split (queries, judgements and its whole corpus) is read once through lexir.eval.datasets and cached as
one JSON file (`<cache>/train-data/dev-<name>.json`), so a run on a machine without ir_datasets or the data can
still validate when that file travels with the cache. The student ranks the whole corpus exactly, as an index of
its documents would: documents encoded at the index-time length (256 tokens, SpladeEncoder's default; on a CPU
by SpladeEncoder itself), queries weighted by the student's IDF. Figures are a selection criterion; `lexir eval`
on the exported model is the measurement.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lexir.encoders.splade import DEFAULT_MAX_DOC_LENGTH
from lexir.errors import LexirError
from lexir.files import write_json_atomic
from lexir.train.options import refuse_test_split

DEV_MEASURE = "nDCG@10"
ENCODE_BATCH = 64


@dataclass(frozen=True)
class DevSet:
    name: str
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    doc_ids: list[str]
    doc_texts: list[str]


def load_dev_set(dataset_id: str, cache: Path) -> DevSet:
    """The dev split `dataset_id` (an ir_datasets id or a BEIR folder's dev split), from the cache or built there."""
    from lexir.eval.datasets import slugify

    refuse_test_split(dataset_id)
    path = cache / "train-data" / f"dev-{slugify(dataset_id)}.json"
    if path.is_file():
        try:
            return DevSet(**json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError, TypeError) as error:
            raise LexirError(f"cached dev split {path} is unreadable ({error}); delete it") from None
    dev = _read_dev_set(dataset_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, asdict(dev))
    return dev


def _read_dev_set(dataset_id: str) -> DevSet:
    from lexir.corpus import Corpus
    from lexir.eval.datasets import load_dataset

    folder = Path(dataset_id).expanduser().is_dir()
    dataset = load_dataset(dataset_id, "dev" if folder else None)
    doc_ids, doc_texts = [], []
    for document in Corpus(dataset.corpus_source):
        doc_ids.append(document.id)
        doc_texts.append(document.contents)
    return DevSet(dataset.name, {topic.query_id: topic.text for topic in dataset.topics},
                  {qid: dict(docs) for qid, docs in dataset.qrels.items()}, doc_ids, doc_texts)


def dev_score(student: Any, dev: DevSet, *, depth: int = 100) -> float:
    """The student's mean nDCG@10 over the dev queries, ranking the whole corpus (no gradient, eval mode)."""
    import torch

    from lexir.eval.measures import parse_measures, score_run

    query_ids = list(dev.queries)
    was_training = student.training
    student.eval()
    try:
        with torch.no_grad():
            queries = student.query_weights([dev.queries[qid] for qid in query_ids])
            if student.device.type == "cpu":
                documents = _index_time_vectors(student, dev.doc_texts)
                scores = torch.from_numpy(np.ascontiguousarray((documents @ queries.numpy().T).T, dtype=np.float32))
            else:
                scores = _scores_on_device(student, queries, dev.doc_texts)
            top = torch.topk(scores, min(depth, len(dev.doc_texts)), dim=1)
    finally:
        student.train(was_training)
    values, positions = top.values.cpu().tolist(), top.indices.cpu().tolist()
    run = {qid: [(dev.doc_ids[i], value) for i, value in zip(positions[row], values[row], strict=True) if value > 0]
           for row, qid in enumerate(query_ids)}
    aggregate, _ = score_run(run, dev.qrels, parse_measures([DEV_MEASURE]), query_ids)
    return aggregate[DEV_MEASURE]


def _index_time_vectors(student: Any, texts: list[str]) -> Any:
    """Document vectors [D, V] (CSR) by the code that builds indexes (SpladeEncoder: batches sorted by length,
    no gradient), over the student's current weights."""
    from lexir.encoders.splade import SpladeEncoder

    return SpladeEncoder(student.model_folder, loaded_model=student.mlm).encode_documents(texts)


def _scores_on_device(student: Any, queries: Any, texts: list[str]) -> Any:
    """Scores [Q, D] with documents encoded by the student itself, where the model lives (e.g. a GPU)."""
    import torch

    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding
    scores = torch.empty((queries.shape[0], len(texts)), device=queries.device)
    for start in range(0, len(order), ENCODE_BATCH):
        rows = order[start:start + ENCODE_BATCH]
        scores[:, rows] = queries @ student.document_weights([texts[i] for i in rows], DEFAULT_MAX_DOC_LENGTH).T
    return scores
