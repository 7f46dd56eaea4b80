"""Evaluation datasets: topics, qrels and the corpus of an ir_datasets id or a BEIR-layout folder.

Only topics that have judgements are kept (a BEIR `queries.jsonl` holds the queries of
every split, and a query without qrels cannot be scored). Qrels are kept exactly as
the dataset gives them, graded and negative values included: the scorer
(ir_measures / trec_eval) decides what counts as relevant.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from lexir.corpus import Corpus
from lexir.errors import LexirError
from lexir.search.conversation import Turn, parse_conversation

logger = logging.getLogger(__name__)

Qrels = dict[str, dict[str, int]]
DEFAULT_BEIR_SPLIT = "test"


@dataclass(frozen=True)
class Topic:
    """One query: its text, or a pre-encoded {token: weight} vector (`lexir eval --queries`), which is then
    searched in place of the text; `history`, the earlier turns of a conversational query (a BEIR queries.jsonl
    line's "history"), which the searcher flattens with the text (lexir.search.conversation)."""

    query_id: str
    text: str
    vector: Mapping[str, float] | None = None
    history: tuple[Turn, ...] = ()

    @property
    def query(self) -> str | Mapping[str, float]:
        """What is searched: the vector when there is one, else the text."""
        return self.text if self.vector is None else self.vector

    @property
    def searchable(self) -> bool:
        """False for an empty text or vector (such a topic gets an empty run list)."""
        return bool(self.vector) if self.vector is not None else bool(self.text.strip())


@dataclass(frozen=True)
class EvalDataset:
    """Everything an evaluation needs from a dataset.

    `corpus_source` is what `Corpus()` reads (the ir_datasets id that owns the documents,
    or the folder), so that the splits of one collection share one index; `is_beir` turns
    on BEIR's rule that a hit on the query's own id is not counted.
    """

    name: str
    corpus_source: str
    corpus_key: str
    topics: tuple[Topic, ...]
    qrels: Qrels
    is_beir: bool
    unjudged_topics: int = 0
    missing_topics: int = 0

    def corpus(self) -> Corpus:
        return Corpus(self.corpus_source)

    @property
    def slug(self) -> str:
        """A file-name-safe name of the corpus, for cache folders."""
        folder = self.corpus_key.startswith("folder:")
        return slugify(Path(self.corpus_source).resolve().name if folder else self.corpus_source)


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9._]+", "-", text.lower()).strip("-.") or "dataset"


def load_dataset(name: str, split: str | None = None) -> EvalDataset:
    """Load a BEIR-layout folder (with `split`, default test) or an ir_datasets id (optionally `id/split`)."""
    path = Path(name).expanduser()
    if path.is_dir():
        return _load_beir_folder(path, split or DEFAULT_BEIR_SPLIT)
    return _load_ir_dataset(name, split)


def load_topics(source: str) -> tuple[list[Topic], bool]:
    """Every query of `source` (an ir_datasets id with queries, a BEIR folder or `queries.jsonl`, or a TSV file
    of `id<TAB>text` lines, as Pyserini's topic files), and whether they are BEIR's (whose convention drops a
    hit on the query's own id, as `lexir eval` does)."""
    path = Path(source).expanduser()
    if path.is_file():
        return (_read_beir_queries(path), True) if path.suffix == ".jsonl" else (_read_tsv_topics(path), False)
    if path.is_dir():
        return _read_beir_queries(path / "queries.jsonl"), True
    import ir_datasets

    if source not in ir_datasets.registry:
        raise LexirError(f"topics '{source}' are neither a file (queries.jsonl, or TSV of id<TAB>text) nor an "
                         "ir_datasets id (e.g. beir/nfcorpus/test)")
    dataset = ir_datasets.load(source)
    if not dataset.has_queries():
        raise LexirError(f"ir_datasets '{source}' has no queries" + _splits_hint(source))
    topics = [Topic(str(query.query_id), _query_text(query)) for query in dataset.queries_iter()]
    return topics, source.startswith("beir/")


def with_query_vectors(dataset: EvalDataset, vectors: Mapping[str, Mapping[str, float]], source: str) -> EvalDataset:
    """`dataset` with its judged topics searched by their pre-encoded vectors from `source`; judged topics
    without a vector there are left out (with a warning), as topics without text are."""
    topics = [replace(topic, vector=vectors[topic.query_id]) for topic in dataset.topics if topic.query_id in vectors]
    if not topics:
        shown = ", ".join(list(vectors)[:3])
        raise LexirError(f"none of the query ids of {source} ({shown}, ...) is a judged query of '{dataset.name}'; "
                         "do the query ids match the dataset's?")
    if len(topics) < len(dataset.topics):
        logger.warning("%d judged queries of '%s' have no vector in %s and are left out",
                       len(dataset.topics) - len(topics), dataset.name, source)
    kept = {topic.query_id for topic in topics}
    qrels = {qid: docs for qid, docs in dataset.qrels.items() if qid in kept}
    return replace(dataset, topics=tuple(topics), qrels=qrels,
                   missing_topics=dataset.missing_topics + len(dataset.topics) - len(topics))


def _read_tsv_topics(path: Path) -> list[Topic]:
    topics = []
    with open(path, encoding="utf-8", newline="") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            query_id, separator, text = line.rstrip("\r\n").partition("\t")
            if not separator or not query_id.strip():
                raise LexirError(f"{path}:{number}: expected a query id, a tab, and the query text")
            topics.append(Topic(query_id.strip(), text))
    return topics


def _with_judged_topics(name: str, corpus_source: str, corpus_key: str, topics: list[Topic], qrels: Qrels,
                        is_beir: bool) -> EvalDataset:
    if not qrels:
        raise LexirError(f"dataset '{name}' has no relevance judgements (qrels) to score against")
    judged = tuple(topic for topic in topics if topic.query_id in qrels)
    if not judged:
        raise LexirError(f"none of the {len(topics)} queries of '{name}' has relevance judgements; "
                         "do the query ids of the queries and the qrels match?")
    known = {topic.query_id for topic in topics}
    if set(qrels) - known:
        logger.warning("%d judged queries of '%s' have no query text and are left out", len(set(qrels) - known), name)
    return EvalDataset(name=name, corpus_source=corpus_source, corpus_key=corpus_key, topics=judged,
                       qrels={qid: docs for qid, docs in qrels.items() if qid in known}, is_beir=is_beir,
                       unjudged_topics=len(topics) - len(judged), missing_topics=len(set(qrels) - known))


# ---------------------------------------------------------------------------------------------- ir_datasets


def _load_ir_dataset(name: str, split: str | None) -> EvalDataset:
    import ir_datasets

    dataset_id = f"{name}/{split}" if split else name
    if dataset_id not in ir_datasets.registry:
        if split and name in ir_datasets.registry:
            raise LexirError(f"ir_datasets has no split '{split}' of '{name}'" + _splits_hint(name))
        raise LexirError(
            f"'{name}' is neither a folder nor an ir_datasets id "
            "(e.g. beir/nfcorpus/test, cranfield, or a BEIR folder with corpus.jsonl, queries.jsonl, qrels/)"
        )
    dataset = ir_datasets.load(dataset_id)
    for kind, present in (("documents", dataset.has_docs()), ("queries", dataset.has_queries()),
                          ("relevance judgements (qrels)", dataset.has_qrels())):
        if not present:
            raise LexirError(f"ir_datasets '{dataset_id}' has no {kind}; evaluation needs documents, queries "
                             "and qrels" + _splits_hint(dataset_id))
    docs_id = ir_datasets.docs_parent_id(dataset_id) or dataset_id
    try:
        topics = [Topic(str(query.query_id), _query_text(query)) for query in dataset.queries_iter()]
        qrels: Qrels = {}
        for qrel in dataset.qrels_iter():
            qrels.setdefault(str(qrel.query_id), {})[str(qrel.doc_id)] = int(qrel.relevance)
    except Exception as error:  # ir_datasets raises anything from network, archive and checksum code
        raise LexirError(
            f"could not load ir_datasets '{dataset_id}' ({type(error).__name__}: {str(error)[:200]}); it downloads "
            "its files on first use: check the network, or lay out offline copies and set IR_DATASETS_HOME"
        ) from error
    return _with_judged_topics(dataset_id, docs_id, f"ir_datasets:{docs_id}", topics, qrels,
                               is_beir=dataset_id.startswith("beir/"))


def _query_text(query: object) -> str:
    text = getattr(query, "text", None)
    return text if isinstance(text, str) else query.default_text()  # type: ignore[attr-defined]


def _splits_hint(dataset_id: str) -> str:
    import ir_datasets

    children = [key for key in ir_datasets.registry if key.startswith(dataset_id + "/")
                and key.count("/") == dataset_id.count("/") + 1]
    usable = [key for key in children if ir_datasets.load(key).has_qrels()]
    return f" (try {', '.join(usable)})" if usable else ""


# ---------------------------------------------------------------------------------------------- BEIR folders


def _load_beir_folder(folder: Path, split: str) -> EvalDataset:
    corpus_file, queries_file = folder / "corpus.jsonl", folder / "queries.jsonl"
    qrels_file = folder / "qrels" / f"{split}.tsv"
    for required in (corpus_file, queries_file, qrels_file):
        if not required.is_file():
            available = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
            hint = f" (qrels splits here: {', '.join(available)})" if available and required == qrels_file else ""
            raise LexirError(f"{required} is missing: a BEIR folder needs corpus.jsonl, queries.jsonl and "
                             f"qrels/<split>.tsv{hint}")
    stat = corpus_file.stat()
    fingerprint = hashlib.sha256(f"{corpus_file.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    return _with_judged_topics(f"{folder.resolve()} ({split})", str(folder), f"folder:{fingerprint[:16]}",
                               _read_beir_queries(queries_file), _read_beir_qrels(qrels_file), is_beir=True)


def _read_beir_queries(path: Path) -> list[Topic]:
    topics = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                history = parse_conversation(record["history"], f"{path}:{number}: history") \
                    if record.get("history") is not None else ()
                topics.append(Topic(str(record["_id"]), str(record.get("text") or ""), history=history))
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
                raise LexirError(f"{path}:{number}: expected a JSON object with _id and text") from None
    return topics


def _read_beir_qrels(path: Path) -> Qrels:
    """Read `query-id<TAB>corpus-id<TAB>score` rows; a header row is skipped."""
    qrels: Qrels = {}
    with open(path, encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            if not row or not "".join(row).strip():
                continue
            if len(row) < 3:
                raise LexirError(f"{path}:{number}: expected query-id, corpus-id and score separated by tabs")
            try:
                value = float(row[2])
            except ValueError:
                if number == 1:
                    continue  # the header: query-id corpus-id score
                raise LexirError(f"{path}:{number}: the score '{row[2]}' is not a number") from None
            if not value.is_integer():
                raise LexirError(f"{path}:{number}: the score '{row[2]}' is not a whole number")
            score = int(value)
            qrels.setdefault(row[0].strip(), {})[row[1].strip()] = score
    return qrels
