"""Benchmarks: `.venv/bin/python -m bench.run` measures every registered figure in one run.

A benchmark is a callable returning `Figure`s; register it in `bench/run.py`'s BENCHMARKS.
Targets live here, never in timed unit tests.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One measured figure beside its target."""

    name: str
    value: float
    unit: str  # "x", "MB", "s" … printed after the value
    target: str  # the target as a reader checks it, e.g. "<= 0.20"
    ok: bool  # whether the target is met
    detail: str = ""  # what the value was computed from
