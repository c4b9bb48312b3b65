"""Ports on 127.0.0.1 for tests: one free to listen on, and one where nothing answers."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    """A port free now, for a server the test starts right after (the kernel does not hand
    out a just-used port again at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def refused_port() -> Iterator[int]:
    """A port where every connection is refused for as long as the block lasts: bound, so
    no server of a test running beside this one can take it, but never listening. (A port
    merely free a moment ago may be some other test's simulator by the time it is tried.)"""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
