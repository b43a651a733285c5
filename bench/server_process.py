"""What the benchmarks need to run ``activity-console serve`` as its own process, as an operator
runs it: free ports, and waiting until it answers ``/readyz``."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(server: subprocess.Popen, http_port: int, timeout: float = 60) -> None:
    """Until the server answers ``/readyz`` with 200; RuntimeError if it exits or never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with status {server.returncode} while starting")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/readyz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not become ready")


def wait_workers(http_port: int, workers: int, timeout: float = 60) -> None:
    """Until each of ``serve --workers``'s processes has answered ``/metrics`` (on new connections,
    which the kernel spreads over them): all of them listen before the load starts."""
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    while len(seen) < workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only workers {sorted(seen)} of {workers} answered")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=1) as response:
                seen.update(re.findall(r'^activity_worker\{index="(\d+)"\} 1', response.read().decode(), re.M))
        except OSError:
            time.sleep(0.1)


def stop(server: subprocess.Popen, timeout: float = 60) -> None:
    """SIGTERM, which lets the server commit what it accepted; killed if it takes longer."""
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
