"""The loop-thread instruments (`LoopCounter`, `LoopHistogram`) expose what prometheus_client would."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from app.metrics import LATENCY_BUCKETS, LoopCounter, LoopHistogram

# on a bound (le is inclusive), between bounds, below the first, past the last, zero
VALUES = (0.001, 0.0025, 0.0007, 0.003, 0.25, 11.0, 0.0, 0.5, 0.5, 10.0)
LABELS = [("/predict/price", "POST", 200), ("/predict/price", "POST", 503), ("/predict/digit", "POST", 200)]


def _exposition(counter_type: type, histogram_type: type) -> bytes:
    registry = CollectorRegistry()
    names = ["route", "method", "status"]
    if counter_type is Counter:
        counter = Counter("http_requests_total", "help", names, registry=registry)
        histogram = Histogram("latency_seconds", "help", names, buckets=LATENCY_BUCKETS, registry=registry)
    else:
        counter = counter_type("http_requests_total", "help", names, registry)
        histogram = histogram_type("latency_seconds", "help", names, LATENCY_BUCKETS, registry)
    for i, value in enumerate(VALUES):
        labels = LABELS[i % len(LABELS)]
        counter.labels(*labels).inc()
        histogram.labels(*labels).observe(value)
    counter.labels(*LABELS[0]).inc(2.5)
    return bytes(generate_latest(registry))


def test_loop_instruments_expose_what_prometheus_client_exposes() -> None:
    ours, theirs = _exposition(LoopCounter, LoopHistogram), _exposition(Counter, Histogram)
    assert b'latency_seconds_bucket{le="0.001",method="POST",route="/predict/price",status="200"} 2.0' in ours
    assert ours == theirs


def test_a_series_is_listed_once_used() -> None:
    registry = CollectorRegistry()
    counter = LoopCounter("refused_total", "help", ["reason"], registry)
    assert b"refused_total{" not in generate_latest(registry)
    counter.labels("limit").inc()
    counter.labels("limit").inc()
    assert b'refused_total{reason="limit"} 2.0' in generate_latest(registry)
