"""The token bucket: never more than `rate` admissions in any window, and the whole allowance
used when the caller is rate-bound. Time is a fake clock, so nothing sleeps."""

from __future__ import annotations

import itertools
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers_tvmaze import FakeClock
from tvmaze_sync.tvmaze.ratelimit import DEFAULT_MARGIN, TokenBucket


def admissions(bucket: TokenBucket, clock: FakeClock, gaps: list[float]) -> list[float]:
    """Acquire once per gap (the caller's own work between requests); admission times."""
    times = []
    for gap in gaps:
        clock.advance(gap)
        bucket.acquire()
        times.append(clock())
    return times


def max_in_window(times: list[float], window: float) -> int:
    """Most admissions in any half-open window (t - window, t], as a sliding-window server
    (TVMaze's backend, our simulator) counts them."""
    recent: deque[float] = deque()
    worst = 0
    for t in times:
        while recent and recent[0] <= t - window:
            recent.popleft()
        recent.append(t)
        worst = max(worst, len(recent))
    return worst


def test_paces_requests_evenly_from_a_free_first_one() -> None:
    clock = FakeClock(0.0)
    bucket = TokenBucket(20, 10.0, clock=clock, sleep=clock.sleep)
    start = clock()
    times = admissions(bucket, clock, [0.0] * 5)
    interval = 0.5 * (1 + DEFAULT_MARGIN)
    assert times[0] == start
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps == pytest.approx([interval] * 4)


def test_rate_bound_caller_uses_the_whole_allowance_without_exceeding_it() -> None:
    clock = FakeClock(0.0)
    bucket = TokenBucket(20, 10.0, clock=clock, sleep=clock.sleep)
    times = admissions(bucket, clock, [0.0] * 401)
    assert max_in_window(times, 10.0) == 20
    elapsed = times[-1] - times[0]
    floor = 400 / 20 * 10.0  # 400 intervals at exactly 20 per 10 s
    assert floor <= elapsed == pytest.approx(floor * (1 + DEFAULT_MARGIN))


def test_idle_time_does_not_save_up_a_burst() -> None:
    clock = FakeClock(0.0)
    bucket = TokenBucket(20, 10.0, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    clock.advance(3600)
    times = admissions(bucket, clock, [0.0] * 21)
    assert max_in_window(times, 10.0) == 20
    assert times[1] - times[0] == pytest.approx(bucket.interval)


def test_a_deeper_bucket_bursts_then_paces() -> None:
    clock = FakeClock(0.0)
    bucket = TokenBucket(20, 10.0, burst=5, clock=clock, sleep=clock.sleep)
    times = admissions(bucket, clock, [0.0] * 8)
    assert times[:5] == pytest.approx([times[0]] * 5)
    assert [t - times[0] for t in times[5:]] == pytest.approx(
        [k * bucket.interval for k in (1, 2, 3)]
    )


def test_oversleeping_does_not_shift_later_slots() -> None:
    clock = FakeClock(0.0)

    def oversleep(seconds: float) -> None:
        clock.sleep(seconds + 0.2)  # the OS woke us late

    bucket = TokenBucket(20, 10.0, clock=clock, sleep=oversleep)
    bucket.acquire()
    bucket.acquire()  # slot 0.505, woke at 0.705
    assert clock() == pytest.approx(0.705)
    assert bucket.acquire() == pytest.approx(1.01 - 0.705)  # slot 1.01, not 0.705 + 0.505


def test_waited_time_is_reported() -> None:
    clock = FakeClock(0.0)
    bucket = TokenBucket(2, 1.0, margin=0.0, clock=clock, sleep=clock.sleep)
    assert bucket.acquire() == 0.0
    assert bucket.acquire() == pytest.approx(0.5)


@pytest.mark.parametrize("kwargs", [{"rate": 0}, {"rate": 5, "period": 0}, {"rate": 5, "burst": 0}])
def test_rejects_nonsense(kwargs: dict[str, float]) -> None:
    clock = FakeClock(0.0)
    with pytest.raises(ValueError):
        TokenBucket(clock=clock, sleep=clock.sleep, **kwargs)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    rate=st.integers(min_value=1, max_value=60),
    gaps=st.lists(
        st.one_of(st.just(0.0), st.floats(min_value=0, max_value=3, allow_nan=False)),
        min_size=1,
        max_size=150,
    ),
)
def test_no_window_ever_holds_more_than_the_rate(rate: int, gaps: list[float]) -> None:
    clock = FakeClock(0.0)
    bucket = TokenBucket(rate, 10.0, clock=clock, sleep=clock.sleep)
    times = admissions(bucket, clock, gaps)
    assert max_in_window(times, 10.0) <= rate
