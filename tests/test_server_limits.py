"""A real `serve` process under `ulimit -n 1024` keeps answering 1,000 slow connections.

Issue #14: ~1,000 idle connections trickling header lines starved the thread-per-connection
server of descriptors, and /health, /state and POST /trigger stopped answering.
"""

from __future__ import annotations

import resource
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers_metrics import small_real_shows, write_config
from tests.helpers_ports import free_port
from tests.test_server import cycle_done, start_serve, wait_for

SLOW_CLIENTS = 1000
SERVE_NOFILE = 1024


def _limit_descriptors() -> None:  # runs in the child, between fork and exec
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (SERVE_NOFILE, hard))


def _room_for_clients() -> None:
    """This process holds the 1,000 client sockets: raise its own soft limit if it must."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = SLOW_CLIENTS + 512
    if soft != resource.RLIM_INFINITY and soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"needs {wanted} descriptors, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


class Tricklers:
    """SLOW_CLIENTS connections that each send a header line every `every` seconds.

    They connect one after another while those already open trickle (so a per-read timeout
    never fires), and a connection the server drops is opened again: the server faces
    SLOW_CLIENTS of them throughout.
    """

    def __init__(self, port: int, every: float = 0.5) -> None:
        self.port, self.every = port, every
        self.socks: list[socket.socket] = []
        self.reconnects = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)

    def __enter__(self) -> Tricklers:
        self._thread.start()
        deadline = time.monotonic() + 60
        while len(self.socks) < SLOW_CLIENTS:
            assert time.monotonic() < deadline, f"only {len(self.socks)} connected in 60 s"
            try:
                self.socks.append(self._open())
            except OSError:
                time.sleep(0.01)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(10)
        for sock in self.socks:
            sock.close()

    def _open(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=2)
        sock.sendall(b"GET /health HTTP/1.1\r\n")
        sock.setblocking(False)
        return sock

    def _trickle(self) -> None:
        while not self._stop.wait(self.every):
            for i in range(len(self.socks)):
                if self._stop.is_set():
                    return
                try:
                    self.socks[i].send(b"X-Slow: 1\r\n")
                except (BlockingIOError, InterruptedError):
                    pass  # its buffer is full: next round
                except OSError:
                    self.socks[i].close()
                    try:
                        self.socks[i] = self._open()
                        self.reconnects += 1
                    except OSError:
                        pass  # closed: the next round tries again


@pytest.mark.slow
def test_serve_keeps_answering_a_thousand_slow_connections(
    tmp_path: Path, tvmaze_sim_factory: Any
) -> None:
    _room_for_clients()
    tvmaze = tvmaze_sim_factory(shows=small_real_shows(), rate_limit=None)
    port = free_port()
    config = write_config(tmp_path / "config.yaml", tmp_path / "data", tvmaze.url, port=port)
    served = start_serve(tmp_path, config, tmp_path / "data", port, preexec_fn=_limit_descriptors)
    try:
        limits = Path(f"/proc/{served.proc.pid}/limits").read_text()
        assert any(
            line.startswith("Max open files") and line.split()[3] == str(SERVE_NOFILE)
            for line in limits.splitlines()
        ), limits
        wait_for(lambda: cycle_done(served), timeout=120, what="the first cycle")
        with Tricklers(port) as tricklers:
            time.sleep(1.0)  # all of them connected and trickling
            for _ in range(5):
                started = time.monotonic()
                response = requests.get(served.url + "/health", timeout=1)
                assert response.status_code == 200
                assert time.monotonic() - started < 1.0
                time.sleep(0.3)
            assert requests.get(served.url + "/state", timeout=5).status_code == 200
            trigger = requests.post(served.url + "/trigger", timeout=10)
            assert trigger.status_code == 202, trigger.text
            wait_for(lambda: cycle_done(served), timeout=60, what="the triggered cycle")
            started = time.monotonic()
            assert requests.get(served.url + "/health", timeout=1).status_code == 200
            assert time.monotonic() - started < 1.0
            assert len(tricklers.socks) == SLOW_CLIENTS
        code = served.stop()
    finally:
        if served.proc.poll() is None:
            served.proc.kill()
    output = served.output()
    assert code == 0, output
    assert "http_accept_failed" not in output and "Traceback" not in output, output
