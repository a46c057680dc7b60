"""Live numbers for the admin page: requests, errors by class, time to first token, open streams.

One recorder per process. A face calls ``start()`` when a request arrives, ``first_token()``
when the reply's first content is in hand, ``failed()`` when the client gets an error and
``finish()`` when the answer ends: a few calls per request, never one per chunk, and an open
stream holds nothing of the recorder's. The last 15 minutes are kept in a ring of 5-second
buckets, so the memory is fixed and a request costs a few additions. Under ``--workers`` each
process counts its own requests (the page shows the worker that answered it).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

#: width of one bucket of the ring, in seconds
BUCKET_SECONDS = 5
#: how far back the ring reaches
WINDOW_SECONDS = 900
#: requests per second are counted over this many seconds
RATE_SECONDS = 60
#: time-to-first-token samples kept per bucket; beyond that a uniform sample is kept
SAMPLES_PER_BUCKET = 256

_BUCKETS = WINDOW_SECONDS // BUCKET_SECONDS

Clock = Callable[[], float]


class _Bucket:
    """What happened during one bucket's seconds."""

    __slots__ = ("errors", "index", "requests", "seen", "ttft")

    def __init__(self, index: int) -> None:
        self.index = index
        self.requests = 0
        self.errors: dict[str, int] = {}
        self.ttft: list[float] = []
        #: how many samples were offered (the reservoir's denominator)
        self.seen = 0

    def sample(self, seconds: float, rng: random.Random) -> None:
        """Keep ``seconds`` as a time-to-first-token sample, uniformly once the bucket is full."""
        self.seen += 1
        if len(self.ttft) < SAMPLES_PER_BUCKET:
            self.ttft.append(seconds)
            return
        slot = rng.randrange(self.seen)
        if slot < SAMPLES_PER_BUCKET:
            self.ttft[slot] = seconds


class LiveStats:
    """The recorder: ``start`` and ``finish`` per request, ``snapshot`` for the admin route."""

    def __init__(self, clock: Clock = time.monotonic, wall: Clock = time.time) -> None:
        self._clock = clock
        self._wall = wall
        self._born = clock()
        self._ring = [_Bucket(-1) for _ in range(_BUCKETS)]
        self._rng = random.Random(0)
        self.open_streams = 0
        self.requests_total = 0
        self.errors_total = 0

    def start(self) -> float:
        """A request arrived: count it; returns its start time (for ``first_token``)."""
        now = self._clock()
        self._bucket(now).requests += 1
        self.requests_total += 1
        self.open_streams += 1
        return now

    def first_token(self, started: float) -> None:
        """The first content of the request that started at ``started`` is in hand."""
        now = self._clock()
        self._bucket(now).sample(now - started, self._rng)

    def failed(self, code: str | None) -> None:
        """The client got an error of class ``code`` (its error code; None: internal)."""
        code = code or "internal_error"
        errors = self._bucket(self._clock()).errors
        errors[code] = errors.get(code, 0) + 1
        self.errors_total += 1

    def finish(self) -> None:
        """A request's answer ended, however it ended."""
        self.open_streams -= 1

    def _bucket(self, now: float) -> _Bucket:
        index = int(now // BUCKET_SECONDS)
        bucket = self._ring[index % _BUCKETS]
        if bucket.index != index:
            bucket = self._ring[index % _BUCKETS] = _Bucket(index)
        return bucket

    def _stored(self, index: int) -> _Bucket:
        """Bucket ``index`` as recorded, or an empty one when nothing happened then."""
        bucket = self._ring[index % _BUCKETS]
        return bucket if bucket.index == index else _Bucket(index)

    def snapshot(self) -> dict[str, object]:
        """The numbers of the last 15 minutes, JSON-ready (see ``GET /admin/stats``)."""
        now = self._clock()
        current = int(now // BUCKET_SECONDS)
        first = current - _BUCKETS + 1
        window = [self._stored(index) for index in range(first, current + 1)]
        span = max(1.0, min(float(RATE_SECONDS), now - self._born))
        recent = sum(b.requests for b in window if (b.index + 1) * BUCKET_SECONDS > now - span)
        samples = sorted(s for b in window for s in b.ttft)
        errors: dict[str, int] = {}
        for bucket in window:
            for code, count in bucket.errors.items():
                errors[code] = errors.get(code, 0) + count
        return {
            "window_seconds": WINDOW_SECONDS,
            "uptime_seconds": round(now - self._born, 3),
            "open_streams": self.open_streams,
            "requests_per_second": round(recent / span, 3),
            "requests": sum(b.requests for b in window),
            "requests_total": self.requests_total,
            "errors": dict(sorted(errors.items())),
            "errors_total": self.errors_total,
            "ttft_p50": percentile(samples, 0.50),
            "ttft_p95": percentile(samples, 0.95),
            "series": {
                "start": round(self._wall() - (now - first * BUCKET_SECONDS), 3),
                "step": BUCKET_SECONDS,
                "requests": [b.requests for b in window],
                "errors": [sum(b.errors.values()) for b in window],
                "ttft_p95": [percentile(sorted(b.ttft), 0.95) for b in window],
            },
        }


def percentile(ordered: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of sorted samples, rounded to the millisecond (None if none)."""
    if not ordered:
        return None
    rank = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return round(ordered[rank], 3)
