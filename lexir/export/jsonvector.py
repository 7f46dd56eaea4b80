"""Pyserini's JsonVectorCollection out: one JSONL(.gz) line per document, `{"id", "contents", "vector"}`, the
vector holding the index's quantized integer impacts under the encoder's token strings.

Anserini indexes such a file with `-impact -pretokenized`: each token is repeated `weight` times and split on
whitespace, so integer weights are what it needs (a float is truncated) and a token must hold no whitespace.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lexir.errors import LexirError
from lexir.export.source import ExportSource
from lexir.formats.jsonvector import write_jsonvector


def check_tokens(source: ExportSource) -> None:
    """Refuse a vocabulary whose used tokens hold whitespace (Anserini would split them into other tokens)."""
    used = source.doc_freq
    broken = [token for term, token in enumerate(source.vocabulary) if used[term] and token != "".join(token.split())]
    if broken:
        raise LexirError(f"{len(broken):,} tokens of {source.index.path} hold whitespace (e.g. {broken[:3]}); "
                         "JsonVectorCollection tokens are split on whitespace by Anserini's -pretokenized indexing")


def vector_lines(source: ExportSource, progress: bool) -> Iterator[tuple[str, dict[str, int], str]]:
    """(id, {token: impact}, contents) of every document, in number order."""
    vocabulary = source.vocabulary
    for batch in source.batches(progress, "export jsonvector"):
        for i, document in enumerate(batch.documents):
            terms, impacts = batch.rows.row(i)
            yield document.id, dict(zip([vocabulary[t] for t in terms.tolist()], impacts.tolist())), document.contents


def write_jsonvector_export(source: ExportSource, path: Path, progress: bool) -> None:
    check_tokens(source)
    write_jsonvector(path, vector_lines(source, progress))
