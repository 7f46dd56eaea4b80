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


class ServerURL(str):
    """The base URL of a running server, which also knows the pid of its `lexir serve` process."""

    pid: int


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
    env = {key: value for key, value in os.environ.items() if key != "LEXIR_API_KEY"}  # a key only when given
    env.update({"LEXIR_API_KEY": api_key} if api_key else {})
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
        served = ServerURL(url)
        served.pid = process.pid
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log_file.close()


def serving_pid(url: ServerURL, path: str = "/healthz") -> int:
    """The pid of the process that answered one request on a new connection to `url` (Linux: the process holding
    the server end of the connection, found through /proc)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("GET", path)
        connection.getresponse().read()
        client_port = connection.sock.getsockname()[1]
        inode = _server_socket_inode(parts.port, client_port)
        for pid in _descendants(url.pid):
            try:
                for fd in Path(f"/proc/{pid}/fd").iterdir():
                    if os.readlink(fd) == f"socket:[{inode}]":
                        return pid
            except OSError:
                continue
        raise LookupError(f"no process of the server holds the connection from port {client_port}")
    finally:
        connection.close()


def _server_socket_inode(server_port: int, client_port: int) -> str:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)
            if (local, remote) == (server_port, client_port):
                return fields[9]
    raise LookupError(f"no server socket for the connection from port {client_port}")


def _descendants(root: int) -> list[int]:
    """`root` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found
