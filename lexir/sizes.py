"""Byte sizes as people write them ("2GiB", "512MiB", "1.5G") and as lexir prints them.

Floor 0: imports nothing of lexir but its errors.
"""

from __future__ import annotations

import re

from lexir.errors import LexirError

_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
          "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*")


def parse_size(text: str, what: str = "size") -> int:
    """Bytes from "2GiB", "512 MiB", "1.5G" (K/M/G/T and KiB.. are powers of 1024, KB/MB.. of 1000, no unit is
    bytes); a clear LexirError for anything else."""
    match = _SIZE.fullmatch(text.lower())
    if match is None or match.group(2) not in _UNITS:
        raise LexirError(f"{what}: cannot read {text!r} as a size; write e.g. 2GiB, 512MiB or 3000000000")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def format_size(size: int) -> str:
    """"2.0 GiB", "512.0 MiB", "100 B": for messages."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"
