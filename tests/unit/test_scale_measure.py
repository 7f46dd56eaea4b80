"""The scale benchmark's build measurement (benchmarks/scale.py): peak RSS of the process tree, exit
status, and a build stopped when it passes the memory limit."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import scale  # noqa: E402

MIB = 2**20
HOLD = "import time; block = bytearray({size}); block[::4096] = b'x' * len(block[::4096]); time.sleep({sleep})"


def child(size: int, sleep: float) -> list[str]:
    return [sys.executable, "-c", HOLD.format(size=size, sleep=sleep)]


def test_peak_rss_covers_what_the_process_touched(tmp_path):
    run = scale.measured(child(300 * MIB, 0.5), tmp_path / "log", memory_limit=8 * 2**30)
    assert run.returncode == 0 and not run.over_limit
    assert run.peak_rss >= 300 * MIB


def test_a_build_past_the_memory_limit_is_stopped(tmp_path):
    run = scale.measured(child(400 * MIB, 30), tmp_path / "log", memory_limit=200 * MIB)
    assert run.over_limit
    assert run.returncode != 0
    assert run.peak_rss > 200 * MIB


def test_failures_keep_their_exit_status_and_output(tmp_path):
    run = scale.measured([sys.executable, "-c", "import sys; print('broken input'); sys.exit(3)"],
                         tmp_path / "log", memory_limit=2**30)
    assert run.returncode == 3 and not run.over_limit
    assert "broken input" in (tmp_path / "log").read_text()
