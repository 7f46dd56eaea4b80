"""`lexir index upgrade INDEX`: convert an index of format version 1 (uncompressed postings) to version 2 in place,
the base and every live segment.

A version-1 folder differs from version 2 only in its document numbers (format.py): doc_ids.npy becomes
doc_blocks.npy and block_words.npy, encoded by `write_posting_files` a piece of lists at a time from the
memory-mapped version-1 arrays (bounded memory, any size). The new files are written into a hidden staging
folder and moved in, then the manifest (version 2, its file records updated) is replaced atomically, and only
then are the version-1 files deleted: an interrupted upgrade leaves a folder that opens as version 1 (the
manifest still says so) or as version 2, and running the command again finishes it. Writers of a live index
are held off by its writer lock for the duration.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from dataclasses import replace
from pathlib import Path

from lexir.errors import IndexFormatError, LexirError
from lexir.files import write_json_atomic
from lexir.index.format import (
    FORMAT_VERSION,
    MANIFEST_FILE,
    REBUILD,
    V1_ARRAY_NAMES,
    file_record,
    read_arrays,
    read_manifest,
)
from lexir.index.live import LOCK_FILE, SEGMENTS_DIR
from lexir.index.postings import POSTING_FILES, write_posting_files

STAGING = ".upgrade"
V1_ONLY_FILES = tuple(f"{name}.npy" for name in V1_ARRAY_NAMES if name not in POSTING_FILES and name != "doc_nnz")


def index_parts(path: Path) -> list[Path]:
    """The base folder and every segment folder with a manifest (a live index's parts)."""
    segments = path / SEGMENTS_DIR
    found = sorted(folder for folder in segments.iterdir() if (folder / MANIFEST_FILE).is_file()) \
        if segments.is_dir() else []
    return [path, *found]


def upgrade_index(path: Path | str, *, progress: bool = False) -> list[Path]:
    """Convert every version-1 part of the index at `path` to the current format; returns the parts converted
    (none when the index is already current). Raises IndexFormatError for a damaged or unknown index."""
    path = Path(path)
    read_manifest(path)  # a clear error for a folder that is not an index, or of an unknown version
    with open(path / LOCK_FILE, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            converted = []
            for folder in index_parts(path):
                if read_manifest(folder).format_version != FORMAT_VERSION:
                    _upgrade_folder(folder, progress)
                    converted.append(folder)
                _remove_leftovers(folder)
            return converted
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _upgrade_folder(folder: Path, progress: bool) -> None:
    manifest = read_manifest(folder)
    arrays = read_arrays(folder, manifest)
    staging = folder / STAGING
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        write_posting_files(staging, arrays["offsets"], arrays["doc_ids"], arrays["impacts"], manifest.block_size,
                            progress=progress)
    except LexirError as error:
        shutil.rmtree(staging)
        raise IndexFormatError(f"index file {folder / 'doc_ids.npy'} is damaged ({error}); {REBUILD}") from None
    del arrays  # the version-1 memory maps
    records = {name: record for name, record in manifest.files.items() if name not in V1_ONLY_FILES}
    for name in POSTING_FILES:
        staged = staging / f"{name}.npy"
        _flush(staged)
        if manifest.files:
            records[staged.name] = file_record(staged)
        os.replace(staged, folder / staged.name)
    shutil.rmtree(staging)
    upgraded = replace(manifest, format_version=FORMAT_VERSION, files=records,
                       extra={**manifest.extra, "upgraded_from_format": manifest.format_version})
    write_json_atomic(folder / MANIFEST_FILE, upgraded.to_dict(), indent=2)


def _remove_leftovers(folder: Path) -> None:
    """The version-1 posting files and staging folder a finished (or interrupted, then rerun) upgrade leaves."""
    for name in V1_ONLY_FILES:
        (folder / name).unlink(missing_ok=True)
    if (folder / STAGING).exists():
        shutil.rmtree(folder / STAGING)


def _flush(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())
