"""The live numbers behind the admin page: a ring of the last 15 minutes, fed per request."""

from __future__ import annotations

import pytest

from qwen_proxy.service.live import (
    BUCKET_SECONDS,
    SAMPLES_PER_BUCKET,
    WINDOW_SECONDS,
    LiveStats,
    percentile,
)

pytestmark = pytest.mark.unit

WALL_OFFSET = 1_780_000_000.0


class Clock:
    """Monotonic time that moves only when told; wall time a fixed offset from it."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now + WALL_OFFSET


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def live(clock: Clock) -> LiveStats:
    return LiveStats(clock.monotonic, clock.wall)


def serve(live: LiveStats, clock: Clock, ttft: float | None, error: str | None = None) -> None:
    """One request that took ``ttft`` seconds to its first token (None: it never got one)."""
    started = live.start()
    if ttft is not None:
        clock.now += ttft
        live.first_token(started)
    if error is not None:
        live.failed(error)
    live.finish()


def test_a_quiet_gateway_shows_zeros_and_no_percentiles(live: LiveStats) -> None:
    numbers = live.snapshot()

    assert numbers["requests_per_second"] == 0
    assert numbers["requests"] == 0
    assert numbers["ttft_p50"] is None
    assert numbers["ttft_p95"] is None
    assert numbers["open_streams"] == 0
    assert numbers["errors"] == {}
    series = numbers["series"]
    assert isinstance(series, dict)
    assert len(series["requests"]) == WINDOW_SECONDS // BUCKET_SECONDS
    assert set(series["requests"]) == {0}


def test_requests_per_second_count_the_last_minute(live: LiveStats, clock: Clock) -> None:
    clock.now += 300
    for _ in range(30):
        serve(live, clock, 0.1)
    clock.now += 61
    for _ in range(12):
        serve(live, clock, 0.1)

    numbers = live.snapshot()

    # the first 30 are more than a minute old (they count in the window, not the rate)
    assert numbers["requests_per_second"] == pytest.approx(12 / 60, abs=0.01)
    assert numbers["requests"] == 42
    assert numbers["requests_total"] == 42


def test_requests_per_second_right_after_start_divide_by_the_time_up(
    live: LiveStats, clock: Clock
) -> None:
    clock.now += 10
    for _ in range(5):
        serve(live, clock, None)

    assert live.snapshot()["requests_per_second"] == pytest.approx(0.5, abs=0.01)


def test_first_token_percentiles_come_from_the_samples(live: LiveStats, clock: Clock) -> None:
    for tenth in range(1, 21):
        serve(live, clock, tenth / 10)

    numbers = live.snapshot()

    assert numbers["ttft_p50"] == pytest.approx(1.0)
    assert numbers["ttft_p95"] == pytest.approx(1.9)


def test_errors_are_counted_by_class(live: LiveStats, clock: Clock) -> None:
    serve(live, clock, None, "upstream_captcha")
    serve(live, clock, None, "upstream_captcha")
    serve(live, clock, 0.1, "upstream_stream_cut")
    serve(live, clock, None, None)
    live.start()
    live.failed(None)
    live.finish()

    numbers = live.snapshot()

    assert numbers["errors"] == {
        "internal_error": 1,
        "upstream_captcha": 2,
        "upstream_stream_cut": 1,
    }
    assert numbers["errors_total"] == 4


def test_open_streams_count_requests_between_start_and_finish(live: LiveStats) -> None:
    live.start()
    live.start()
    assert live.snapshot()["open_streams"] == 2

    live.finish()
    assert live.snapshot()["open_streams"] == 1
    live.finish()
    assert live.snapshot()["open_streams"] == 0


def test_numbers_older_than_fifteen_minutes_leave_the_window(live: LiveStats, clock: Clock) -> None:
    serve(live, clock, 3.0, "upstream_rate_limited")
    clock.now += WINDOW_SECONDS + BUCKET_SECONDS
    serve(live, clock, 0.5)

    numbers = live.snapshot()

    assert numbers["requests"] == 1
    assert numbers["errors"] == {}
    assert numbers["ttft_p95"] == pytest.approx(0.5)
    assert numbers["requests_total"] == 2


def test_the_series_puts_each_request_in_its_five_second_bucket(
    live: LiveStats, clock: Clock
) -> None:
    serve(live, clock, None)
    clock.now += BUCKET_SECONDS * 3
    serve(live, clock, 0.2, "upstream_timeout")
    serve(live, clock, None)

    series = live.snapshot()["series"]

    assert isinstance(series, dict)
    assert series["step"] == BUCKET_SECONDS
    assert series["requests"][-4:] == [1, 0, 0, 2]
    assert series["errors"][-4:] == [0, 0, 0, 1]
    assert series["ttft_p95"][-1] == pytest.approx(0.2)
    assert series["ttft_p95"][-2] is None
    # the first bucket starts 15 minutes (less one bucket) before the current one, in wall time
    current_start = (clock.now // BUCKET_SECONDS) * BUCKET_SECONDS
    assert series["start"] == pytest.approx(
        current_start - WINDOW_SECONDS + BUCKET_SECONDS + WALL_OFFSET
    )


def test_a_busy_bucket_keeps_a_bounded_sample(live: LiveStats, clock: Clock) -> None:
    for _ in range(SAMPLES_PER_BUCKET * 4):
        live.first_token(live.start())  # the clock stands still: one bucket
        live.finish()

    bucket = live._bucket(clock.now)

    assert len(bucket.ttft) == SAMPLES_PER_BUCKET
    assert bucket.seen == SAMPLES_PER_BUCKET * 4
    assert live.snapshot()["ttft_p50"] == 0


@pytest.mark.parametrize(
    ("samples", "fraction", "expected"),
    [
        ([], 0.5, None),
        ([1.0], 0.95, 1.0),
        ([1.0, 2.0], 0.5, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 0.95, 4.0),
        ([0.1234567], 0.5, 0.123),
    ],
)
def test_percentile_is_the_nearest_rank(
    samples: list[float], fraction: float, expected: float | None
) -> None:
    assert percentile(samples, fraction) == expected
