"""lexir.files: atomic file writes, folder swaps and folder sizes."""

from __future__ import annotations

import json
import os
import stat

import pytest

from lexir.errors import LexirError
from lexir.files import atomic_write, folder_bytes, swap_folder, write_json_atomic, write_text_atomic


def test_atomic_write_replaces_the_file_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "data.json"
    target.write_text("old")
    write_json_atomic(target, {"a": [1, 2]}, indent=2)
    assert json.loads(target.read_text()) == {"a": [1, 2]}
    with atomic_write(tmp_path / "blob.bin") as handle:
        handle.write(b"\x00\x01")
    assert (tmp_path / "blob.bin").read_bytes() == b"\x00\x01"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["blob.bin", "data.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary_one(tmp_path):
    target = tmp_path / "live.json"
    target.write_text("committed")
    with pytest.raises(RuntimeError), atomic_write(target, "w") as handle:
        handle.write("half a")
        raise RuntimeError("killed")
    assert target.read_text() == "committed"
    assert [path.name for path in tmp_path.iterdir()] == ["live.json"]
    with pytest.raises(LexirError, match="whole files"):
        with atomic_write(target, "a"):
            pass


def test_written_files_get_the_umask_permissions_not_owner_only(tmp_path):
    previous = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "manifest.json", "{}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "manifest.json").stat().st_mode) == 0o644


def test_swap_folder_replaces_a_target_or_creates_it(tmp_path):
    built, target = tmp_path / "built", tmp_path / "target"
    built.mkdir()
    (built / "new").write_text("new")
    swap_folder(built, target)
    assert [path.name for path in target.iterdir()] == ["new"] and not built.exists()
    built.mkdir()
    (built / "newer").write_text("newer")
    (tmp_path / ".target.old").mkdir()  # left by a crash between the two renames of an earlier swap
    swap_folder(built, target)
    assert [path.name for path in target.iterdir()] == ["newer"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["target"]


def test_folder_bytes_counts_nested_files_and_leaves_out_excluded_entries(tmp_path):
    (tmp_path / "a").write_bytes(b"12345")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"123")
    (tmp_path / "dense").mkdir()
    (tmp_path / "dense" / "faiss.index").write_bytes(b"1234567")
    assert folder_bytes(tmp_path) == 15
    assert folder_bytes(tmp_path, exclude=("dense",)) == 8
