"""Helpers for the API tests: a free port and a real `lexir serve` subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_server(index: Path, *extra: str, api_key: str | None = None, timeout: float = 120.0,
                   log: Path | None = None):
    """Start `lexir serve INDEX` on 127.0.0.1 and yield its base URL once /healthz answers.

    The server's output goes to `log` (a temporary file by default), never to an unread pipe.
    """
    port = free_port()
    env = {**os.environ, **({"LEXIR_API_KEY": api_key} if api_key else {})}
    log_file = open(log, "w") if log else tempfile.TemporaryFile("w+")
    process = subprocess.Popen([sys.executable, "-m", "lexir", "serve", str(index), "--port", str(port), *extra],
                               env=env, stdout=log_file, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                log_file.seek(0)
                raise RuntimeError(f"lexir serve exited: {log_file.read()[-3000:]}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("lexir serve did not answer /healthz in time")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log_file.close()
