"""CI's test time against its goal: the README's test command under CI's settings, timed.

    python benchmarks/test_time.py [--log FILE] [-- PYTEST ARGS]

Runs `pytest` (by default the whole suite in one process, under `.ci/run`'s CI=true, LEXIR_SLOW_TESTS=1; `make
test` runs tests/unit in a second process beside the rest, about 5 minutes less) in this checkout's
environment (after `make venv datasets browser`) with a fresh LEXIR_CACHE, and prints the test minutes, their
ratio to the goal (18 minutes on the 2-core machine) and to the last measured baseline (707 tests in 25.7
minutes, 2026-11-30), and the CPU seconds the run took (its own and its subprocesses': on a shared machine they
move less than the wall time). Given `--log`, it reads a finished pytest log instead (the "N passed in S s"
line; no CPU figure). Run it on an idle machine: the wall time is what CI's budget is stated in.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_MINUTES = 18.0
BASELINE_MINUTES = 1539.51 / 60  # 707 passed in 1539.51 s: clean-clone CI of 2026-11-30 (README)
SUMMARY = re.compile(r"^=*\s*(\d+ (?:passed|failed|error).*?) in ([0-9.]+)s", re.MULTILINE)
REPO = Path(__file__).resolve().parents[1]


def summary(log: str) -> tuple[str, float]:
    """(counts, seconds) of pytest's last summary line."""
    found = SUMMARY.findall(log)
    if not found:
        sys.exit("error: no pytest summary line ('N passed in S s') in the log")
    counts, seconds = found[-1]
    return counts, float(seconds)


def run_pytest(args: list[str]) -> tuple[str, float, float]:
    """Run pytest under CI's settings; (its output, wall seconds, CPU seconds of it and its children)."""
    env = {"IR_DATASETS_HOME": str(REPO / ".cache" / "ir_datasets"),  # where `make datasets` lays them out
           **os.environ, "CI": "true", "LEXIR_SLOW_TESTS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    with tempfile.TemporaryDirectory(prefix="lexir-test-time-") as cache:
        env["LEXIR_CACHE"] = cache
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=REPO, env=env,
                              capture_output=True, text=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done.stdout + done.stderr, wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--log", type=Path, help="read a finished pytest log instead of running the tests")
    parser.add_argument("pytest_args", nargs="*", help="arguments for pytest (after --)")
    options = parser.parse_args()
    cpu = None
    if options.log:
        log = options.log.read_text(encoding="utf-8", errors="replace")
    else:
        log, _, cpu = run_pytest(options.pytest_args)
        print("\n".join(log.splitlines()[-25:]))
    counts, seconds = summary(log)
    minutes = seconds / 60
    print(f"tests: {counts} in {minutes:.1f} min; {minutes / GOAL_MINUTES:.2f}x the goal ({GOAL_MINUTES:g} min), "
          f"{minutes / BASELINE_MINUTES:.2f}x the baseline ({BASELINE_MINUTES:.1f} min)"
          + (f"; CPU {cpu:.0f} s ({cpu / seconds:.2f} cores busy on average)" if cpu is not None else ""))


if __name__ == "__main__":
    main()
