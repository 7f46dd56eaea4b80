"""Training queries and where their documents come from: labelled queries, and Inverse Cloze Task pairs.

A `Pool` is the set of documents one source's queries are mined against. A `TrainingQuery` has a text, the
pool it searches, the keys of its labelled positives, and the keys it must never get as a negative (an ICT
query's source document, whose rest is its positive). Document keys are `<pool>::<doc id>`; an ICT positive
(a passage without its query sentence) is a new text with the key `ict::<n>`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from lexir.corpus import Corpus
from lexir.errors import LexirError
from lexir.train.options import refuse_test_split

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
ICT_MIN_WORDS, ICT_MAX_WORDS = 5, 40
ICT_MIN_SENTENCES = 3
MAX_POSITIVES = 8


@dataclass
class Pool:
    name: str
    keys: list[str] = field(default_factory=list)


@dataclass
class TrainingQuery:
    text: str
    pool: str
    positives: list[str]
    excluded: list[str] = field(default_factory=list)
    source: str = "supervised"


def doc_key(pool: str, doc_id: str) -> str:
    return f"{pool}::{doc_id}"


def load_pool(source: str, texts: dict[str, str], *, limit: int | None, rng: random.Random) -> Pool:
    """The documents of `source` (a sample of `limit` of them, chosen with `rng`), their texts added to `texts`."""
    corpus = Corpus(source)
    sample: list[tuple[str, str]] = []
    for seen, document in enumerate(corpus):  # reservoir sampling: one pass, any corpus size
        item = (document.id, document.contents)
        if limit is None or len(sample) < limit:
            sample.append(item)
        else:
            slot = rng.randrange(seen + 1)
            if slot < limit:
                sample[slot] = item
    if not sample:
        raise LexirError(f"the corpus {source} has no documents")
    pool = Pool(source)
    for doc_id, text in sample:
        key = doc_key(source, doc_id)
        texts[key] = text
        pool.keys.append(key)
    return pool


def supervised_queries(dataset_id: str, texts: dict[str, str], rng: random.Random,
                       max_queries: int | None) -> tuple[Pool, list[TrainingQuery]]:
    """The labelled queries of a training split (positives: judged relevance > 0), and their pool."""
    from lexir.eval.datasets import load_dataset

    refuse_test_split(dataset_id)
    folder = Path(dataset_id).expanduser().is_dir()
    dataset = load_dataset(dataset_id, "train" if folder else None)
    pool = load_pool(dataset.corpus_source, texts, limit=None, rng=rng)
    known = set(pool.keys)
    queries = []
    for topic in dataset.topics:
        judged = dataset.qrels.get(topic.query_id, {})
        positives = [doc_key(pool.name, doc_id) for doc_id, grade in judged.items() if grade > 0]
        positives = [key for key in positives if key in known]
        if positives:
            rng.shuffle(positives)
            queries.append(TrainingQuery(topic.text, pool.name, positives[:MAX_POSITIVES]))
    rng.shuffle(queries)
    return pool, queries[:max_queries] if max_queries else queries


def sentences(text: str) -> list[str]:
    return [part.strip() for part in SENTENCE_END.split(text) if part.strip()]


def ict_queries(pool: Pool, texts: dict[str, str], count: int, rng: random.Random) -> list[TrainingQuery]:
    """Inverse Cloze Task: a sentence of a passage is the query, the rest of the passage its positive."""
    candidates = [key for key in pool.keys if len(sentences(texts[key])) >= ICT_MIN_SENTENCES]
    rng.shuffle(candidates)
    queries = []
    for key in candidates:
        if len(queries) >= count:
            break
        parts = sentences(texts[key])
        usable = [i for i, part in enumerate(parts) if ICT_MIN_WORDS <= len(part.split()) <= ICT_MAX_WORDS]
        if not usable:
            continue
        chosen = rng.choice(usable)
        positive_key = f"ict::{len(queries)}:{key}"
        texts[positive_key] = " ".join(part for i, part in enumerate(parts) if i != chosen)
        queries.append(TrainingQuery(parts[chosen], pool.name, [positive_key], excluded=[key], source="ict"))
    return queries
