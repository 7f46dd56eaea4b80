"""Small builders used by several test modules."""

from __future__ import annotations

import io
import json
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

from tests.texts import DOCUMENTS


def write_jsonl(path: Path, documents=DOCUMENTS) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for doc_id, title, text in documents:
            handle.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    return path


def build_dense_index(folder: Path, dense_encoder, documents=DOCUMENTS) -> Path:
    """A BM25 index of `documents` at folder/index, with a flat dense side added afterwards."""
    from lexir.corpus import Corpus
    from lexir.encoders import create_encoder
    from lexir.index import build_index
    from lexir.index.dense_builder import add_dense

    source = write_jsonl(folder / "docs.jsonl", documents)
    build_index(Corpus(str(source)), create_encoder("bm25"), folder / "index", progress=False)
    add_dense(folder / "index", dense_encoder, progress=False)
    return folder / "index"


@dataclass
class CliResult:
    """What one `lexir` command did: its exit status and its output streams."""

    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


def lexir(*args: object, check: bool = True) -> CliResult:
    """Run `lexir ARGS` in this process through the console script's entry point (`lexir.cli:main`, as
    pyproject.toml declares it), with stdout and stderr captured; `check` asserts it succeeded.

    In process, the command line is exactly a user's, without the seconds a new interpreter spends importing.
    """
    from lexir import cli

    argv = tuple(str(arg) for arg in args)
    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv, list(cli.app.registered_groups), list(cli.app.registered_commands)
    sys.argv = ["lexir", *argv]
    code = 0
    try:
        with redirect_stdout(out), redirect_stderr(err):
            cli.main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:  # main() mounts its sub-apps on each call: leave the app as it was, so calls do not pile them up
        sys.argv, cli.app.registered_groups[:], cli.app.registered_commands[:] = saved
    result = CliResult(argv, code, out.getvalue(), err.getvalue())
    if check:
        assert code == 0, f"lexir {' '.join(argv)} exited {code}:\n{result.stderr[-3000:]}"
    return result


def assert_one_line_error(result: CliResult, *fragments: str) -> None:
    """A user error as the CLI reports one: exit status 1 and one line, `error: ...`, holding every fragment (no
    traceback, no click `Aborted!`)."""
    assert result.code == 1, (result.code, result.stdout[-2000:], result.stderr[-2000:])
    assert "Traceback" not in result.stderr and "Aborted" not in result.stderr, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.strip().count("\n") == 0, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


def write_beir_folder(folder: Path, splits: dict[str, dict[str, tuple[str, dict[str, int]]]],
                      documents=DOCUMENTS) -> Path:
    """A BEIR-layout folder: corpus.jsonl, queries.jsonl and qrels/SPLIT.tsv for each split of
    {split: {query id: (text, {doc id: grade})}}."""
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "corpus.jsonl", documents)
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as handle:
        for queries in splits.values():
            for query_id, (text, _) in queries.items():
                handle.write(json.dumps({"_id": query_id, "text": text}) + "\n")
    (folder / "qrels").mkdir(exist_ok=True)
    for split, queries in splits.items():
        lines = ["query-id\tcorpus-id\tscore"]
        lines += [f"{query_id}\t{doc_id}\t{grade}" for query_id, (_, judged) in queries.items()
                  for doc_id, grade in judged.items()]
        (folder / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder
