"""An index build killed mid-way (SIGKILL, real subprocess) leaves no valid index and resumes to the same index.

Only the killed build needs a process of its own; the commands after it run in this one (tests/helpers.py's
`lexir`: the same entry point, without a new interpreter's seconds of imports)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from lexir.errors import IndexFormatError
from lexir.index import InvertedIndex
from lexir.index.builder import CHUNK_GLOB, staging_folder
from lexir.index.format import ARRAY_NAMES
from tests.helpers import assert_one_line_error, lexir, write_jsonl
from tests.texts import DOCUMENTS

LEXIR = [sys.executable, "-m", "lexir"]


def build_args(source, out, *extra):
    return ["index", "build", str(source), "--out", str(out), "--encoder", "splade-tiny", "--chunk-size", "4",
            "--batch-size", "2", "--quiet", *extra]


def test_killed_build_resumes_to_the_same_index(tmp_path, splade_tiny):
    documents = [(f"{doc_id}-{copy}", title, text) for copy in range(6) for doc_id, title, text in DOCUMENTS]
    source = write_jsonl(tmp_path / "docs.jsonl", documents)
    target = tmp_path / "index"
    process = subprocess.Popen([*LEXIR, *build_args(source, target)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    chunks = staging_folder(target) / "chunks"
    deadline = time.monotonic() + 120
    while len(list(chunks.glob(CHUNK_GLOB))) < 3:
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the build ended before it could be killed: {process.communicate()}")
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    finished = len(list(chunks.glob(CHUNK_GLOB)))
    assert finished < len(documents) // 4, "the build finished before the kill; the test proves nothing"
    with pytest.raises(IndexFormatError):
        InvertedIndex(target)

    assert_one_line_error(lexir(*build_args(source, target), check=False), "--resume")

    resumed = lexir(*build_args(source, target, "--resume"))
    assert f"({finished} chunks resumed)" in resumed.stderr.replace("\n", " ")

    lexir(*build_args(source, tmp_path / "fresh"))
    resumed_index, fresh_index = InvertedIndex(target), InvertedIndex(tmp_path / "fresh")
    assert resumed_index.num_docs == len(documents)
    assert resumed_index.docstore.all_ids() == [doc_id for doc_id, _, _ in documents]
    for name in ARRAY_NAMES:
        np.testing.assert_array_equal(getattr(resumed_index, name), getattr(fresh_index, name), err_msg=name)
