"""A real local Ray cluster for the tests: a head node and a second node process on this machine, started once per
session and torn down at its end (also when tests fail).

Each node offers 1 CPU; the tests' actors ask for fractions of one (RAY_TEST_CPUS), so that the read task and the
encoding pool fit on a 2-core machine. Every Ray process runs in the process groups the fixture starts (`ray start
--block` in a new session), so teardown ends exactly them, by group id, and removes the cluster's temp folder.
Without Ray installed the tests skip, and fail under CI=true (tests/conftest.py's skip_or_fail).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail

REPO = Path(__file__).resolve().parents[2]
RAY_TEST_CPUS = 0.25  # what each test actor reserves of a node's one CPU
START_TIMEOUT = 180.0
OBJECT_STORE_BYTES = 256 * 2**20  # per node: the tests move kilobytes
# a cluster on 127.0.0.1 for one test session: no token (Ray would otherwise enable token auth when it finds
# ~/.ray/auth_token, which another local Ray may have left there)
NO_TOKEN = {"RAY_AUTH_MODE": "disabled"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _ray_start(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "ray.scripts.scripts", "start", "--block", "--num-cpus=1", "--num-gpus=0",
               f"--object-store-memory={OBJECT_STORE_BYTES}", "--disable-usage-stats", *args]
    with open(log, "ab") as handle:
        return subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(processes: list[subprocess.Popen]) -> None:
    """End each node's process group: politely, then for good."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        for process in processes:
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        for process in processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass


def _connect(ray, address: str, deadline: float) -> None:
    """Join as a driver; the head's port answers before its node has registered, which a busy machine stretches."""
    while True:
        try:
            ray.init(address=address, log_to_driver=False, logging_level="ERROR")
            return
        except (ConnectionError, RuntimeError):
            ray.shutdown()
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def _wait_for_nodes(ray, count: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while sum(node["Alive"] for node in ray.nodes()) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the Ray cluster has {sum(n['Alive'] for n in ray.nodes())} of {count} nodes")
        time.sleep(0.5)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """The address (host:port) of a running two-node Ray cluster; this process is connected to it as a driver."""
    try:
        import ray
    except ImportError:
        skip_or_fail("Ray is not installed: pip install 'lexir[distributed]' (the README's test command does)")
    temp = Path(tempfile.mkdtemp(prefix="lexir-ray-"))  # short: Ray's socket paths must fit 107 bytes
    port = _free_port()
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "RAY_USAGE_STATS_ENABLED": "0", **NO_TOKEN,
           # a node waits for its agents to start; on a busy small machine they can take longer than Ray's default
           "RAY_agent_register_timeout_ms": "120000"}
    env.pop("RAY_ADDRESS", None)
    patch = pytest.MonkeyPatch()
    processes = [_ray_start("--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--include-dashboard=false",
                            f"--temp-dir={temp}", f"--ray-client-server-port={_free_port()}",
                            f"--dashboard-agent-listen-port={_free_port()}", env=env, log=temp / "head.log")]
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if processes[0].poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the Ray head did not start: {(temp / 'head.log').read_text()[-2000:]}")
                time.sleep(0.5)
        processes.append(_ray_start(f"--address={address}", "--node-ip-address=127.0.0.1",
                                    f"--dashboard-agent-listen-port={_free_port()}", env=env,
                                    log=temp / "node.log"))
        patch.setenv("RAY_AUTH_MODE", NO_TOKEN["RAY_AUTH_MODE"])
        _connect(ray, address, time.monotonic() + START_TIMEOUT)
        _wait_for_nodes(ray, 2)
        yield address
    finally:
        if ray.is_initialized():
            ray.shutdown()
        patch.undo()
        _stop(processes)
        shutil.rmtree(temp, ignore_errors=True)
