"""Bad build input (issue #16, item 6): one-line errors with the line number, and `--skip-bad-lines` counting what
it skipped by reason."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from lexir.corpus import Corpus
from lexir.errors import LexirError
from lexir.index.builder import staging_folder
from tests.helpers import assert_one_line_error, lexir

GOOD = [json.dumps({"_id": f"d{i}", "title": "A title", "text": f"plain words about topic {i}"}) for i in range(4)]


def write_lines(path: Path, lines: list[bytes | str]) -> Path:
    path.write_bytes(b"".join((line.encode() if isinstance(line, str) else line) + b"\n" for line in lines))
    return path


def build(source: Path, out: Path, *flags: str):
    return lexir("index", "build", source, "--encoder", "bm25", "--out", out, "--quiet", *flags, check=False)


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_a_non_utf8_byte_names_its_line_or_is_skipped_and_counted(tmp_path, suffix):
    """Item 6: a non-UTF-8 byte gave a traceback, even with --skip-bad-lines."""
    lines = [*GOOD[:2], b'{"_id": "latin1", "text": "caf\xe9 au lait"}', *GOOD[2:]]
    source = write_lines(tmp_path / "docs.jsonl", lines)
    if suffix == ".jsonl.gz":
        source = tmp_path / "docs.jsonl.gz"
        source.write_bytes(gzip.compress((tmp_path / "docs.jsonl").read_bytes()))
    assert_one_line_error(build(source, tmp_path / "index"), f"{source}:3: invalid UTF-8")
    skipped = build(source, tmp_path / "index", "--skip-bad-lines")
    assert skipped.code == 0 and "skipped 1 bad line: 1 invalid UTF-8" in skipped.stderr
    assert "indexed 4 documents" in skipped.stderr


def test_a_truncated_gzip_file_is_one_line_and_leaves_no_staging_folder(tmp_path):
    """Item 6: a truncated .gz printed only `Aborted.` and left a staging folder."""
    many = [json.dumps({"_id": f"d{i}", "text": f"words and more words number {i} " * 10}) for i in range(3000)]
    whole = gzip.compress("\n".join(many).encode())
    source = tmp_path / "docs.jsonl.gz"
    source.write_bytes(whole[: len(whole) // 2])
    for flags in ((), ("--skip-bad-lines",)):
        result = build(source, tmp_path / "index", "--chunk-size", "100", *flags)
        assert_one_line_error(result, str(source), "truncated")
        assert not staging_folder(tmp_path / "index").exists() and not (tmp_path / "index").exists()
    with pytest.raises(LexirError, match="ends early after line"):
        list(Corpus(str(source)))


@pytest.mark.parametrize(("line", "reason"), [
    ({"_id": 5, "text": "a numeric id"}, "non-string _id"),
    ({"_id": "n1", "text": None}, "null text"),
    ({"_id": "n2", "title": None, "text": "words"}, "null title"),
    ({"_id": "n3", "text": ["a", "list"]}, "non-string text"),
    ({"_id": "", "text": "words"}, "missing or empty _id"),
])
def test_non_string_ids_and_null_texts_are_refused_or_skipped_and_counted(tmp_path, line, reason):
    """Item 6: --skip-bad-lines silently accepted "_id": 5 and "text": null (and so did a build without it)."""
    source = write_lines(tmp_path / "docs.jsonl", [*GOOD, json.dumps(line)])
    assert_one_line_error(build(source, tmp_path / "index"), f"docs.jsonl:5: {reason}")
    skipped = build(source, tmp_path / "index", "--skip-bad-lines")
    assert skipped.code == 0 and f"skipped 1 bad line: 1 {reason}" in skipped.stderr


def test_skip_bad_lines_reports_counts_per_reason(tmp_path):
    lines = [GOOD[0], "{broken", json.dumps({"_id": 7, "text": "x"}), json.dumps({"_id": "a", "text": None}),
             b"\xff\xfe", "[1, 2]", json.dumps({"_id": 8, "text": "y"}), GOOD[1]]
    corpus = Corpus(str(write_lines(tmp_path / "docs.jsonl", lines)), skip_bad_lines=True)
    assert [document.id for document in corpus] == ["d0", "d1"]
    assert dict(corpus.skipped_by_reason) == {"malformed JSON": 1, "non-string _id": 2, "null text": 1,
                                              "invalid UTF-8": 1, "not a JSON object": 1}
    assert corpus.skipped_summary() == ("skipped 6 bad lines: 2 non-string _id, 1 malformed JSON, 1 null text, "
                                        "1 invalid UTF-8, 1 not a JSON object")


def test_a_duplicate_id_does_not_suggest_resume_and_leaves_no_staging_folder(tmp_path):
    """Item 6: the duplicate-id error suggested --resume, which cannot succeed (the corpus must change)."""
    lines = [*GOOD, json.dumps({"_id": "d1", "text": "the same id again"})]
    source = write_lines(tmp_path / "docs.jsonl", lines)
    result = build(source, tmp_path / "index", "--chunk-size", "2")  # finished chunks exist when it is found
    assert_one_line_error(result, "'d1' occurs more than once", "documents 2 and 5", "build again")
    assert "--resume" not in result.stderr
    assert not staging_folder(tmp_path / "index").exists() and not (tmp_path / "index").exists()
