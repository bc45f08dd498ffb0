"""Prometheus metrics, one registry per app so several apps (tests) never clash.

The instruments counted for every request (`LoopCounter`, `LoopHistogram`) are plain numbers that only
the event loop's thread changes, exposed at scrape time as prometheus's own families: prometheus_client's
`Counter.inc` and `Histogram.observe` take a lock and check their arguments each time, 2.3 of a
refusal's 10.8 µs in-process (`app.middleware.EarlyRefusal`), whose target is a tenth of a served price.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

disable_created_metrics()  # the *_created series only double the output

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
WAIT_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
STAGE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)


class CounterSeries:
    """One label set's count (`LoopCounter.labels`)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class HistogramSeries:
    """One label set's bucket counts and sum (`LoopHistogram.labels`); `counts` are not cumulative."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds, self.counts, self.sum = bounds, [0] * (len(bounds) + 1), 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # the first bucket whose bound is >= value
        self.sum += value


S = TypeVar("S", CounterSeries, HistogramSeries)  # one label set's series


class _LoopFamily(Generic[S]):
    """Labelled series that only the event loop's thread changes; `labels()` as prometheus_client's."""

    def __init__(self, name: str, documentation: str, labelnames: list[str], new_series: Callable[[], S]):
        self.name, self.documentation, self.labelnames = name, documentation, labelnames
        self._new_series: Callable[[], S] = new_series
        self._children: dict[tuple[str, ...], S] = {}

    def labels(self, *values: object) -> S:
        key = tuple(str(v) for v in values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._new_series()
        return child


class LoopCounter(_LoopFamily[CounterSeries]):
    """A labelled counter changed by the event loop's thread only."""

    def __init__(self, name: str, documentation: str, labelnames: list[str], registry: CollectorRegistry):
        super().__init__(name, documentation, labelnames, CounterSeries)
        registry.register(self)

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for key, child in list(self._children.items()):
            family.add_metric(key, child.value)
        yield family


class LoopHistogram(_LoopFamily[HistogramSeries]):
    """A labelled histogram changed by the event loop's thread only."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: list[str],
        buckets: tuple[float, ...],
        registry: CollectorRegistry,
    ):
        self.bounds = tuple(float(b) for b in buckets)
        super().__init__(name, documentation, labelnames, lambda: HistogramSeries(self.bounds))
        registry.register(self)

    def describe(self) -> Iterator[Metric]:
        yield HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        les = [floatToGoString(b) for b in self.bounds] + ["+Inf"]
        for key, child in list(self._children.items()):
            running, buckets = 0, []
            for le, count in zip(les, list(child.counts), strict=True):
                running += count
                buckets.append((le, float(running)))
            family.add_metric(key, buckets, sum_value=child.sum)
        yield family


class Metrics:
    """The service's instruments: requests, latency by route and status, stage latency, in flight, models."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        labels = ["route", "method", "status"]
        self.requests = LoopCounter(
            "http_requests_total", "HTTP requests by route, method and status", labels, r
        )
        self.latency = LoopHistogram(
            "http_request_duration_seconds",
            "HTTP request latency by route, method and status",
            labels,
            LATENCY_BUCKETS,
            r,
        )
        self.stage = Histogram(
            "inference_stage_duration_seconds",
            "Latency of one stage (decode, preprocess, inference, ...)",
            ["model", "stage"],
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        self.in_flight = 0  # HTTP requests being handled (the middleware counts them, on the loop's thread)
        Gauge("http_requests_in_flight", "HTTP requests being handled", registry=r).set_function(
            lambda: float(self.in_flight)
        )
        self._digits(r)
        self._admission(r)
        self._models(r)

    def _digits(self, r: CollectorRegistry) -> None:
        """The digit network's queue, batches, refusals and second looks (`app.batching`, `app.pipelines`)."""
        self.queue_depth = Gauge("inference_queue_depth", "Images waiting for the digit network", registry=r)
        self.batch_size = Histogram(
            "inference_batch_size", "Images per network call", buckets=(1, 2, 4, 8, 16, 32, 64), registry=r
        )
        self.rejected = Counter(
            "inference_rejected_total",
            "Jobs a queue refused: requests answered 503, and second looks skipped (below)",
            ["reason"],
            registry=r,
        )
        self.second_looks = Counter(
            "digit_second_looks_total",
            "Unsure digits read again turned (models/second_look.py): read, or skipped when too busy",
            ["outcome"],
            registry=r,
        )

    def _models(self, r: CollectorRegistry) -> None:
        """The models served, and their reloads (`app.service`)."""
        self.reloads = Counter(
            "model_reloads_total",
            "Reloads and unloads after start-up, by model and outcome (loaded, failed, unloaded)",
            ["model", "outcome"],
            registry=r,
        )
        self.model_info = Gauge(
            "model_info",
            "1 for a loaded model, 0 for one that failed",
            ["name", "version", "sha256"],
            registry=r,
        )

    def _admission(self, r: CollectorRegistry) -> None:
        """Admission control (`app.admission`), per route class."""
        self.admission_in_flight = Gauge(
            "admission_in_flight", "Requests in work per route class", ["route_class"], registry=r
        )
        self.admission_waiting = Gauge(
            "admission_waiting", "Requests waiting for a slot per route class", ["route_class"], registry=r
        )
        self.admission_limit = Gauge(
            "admission_limit", "Most requests in work at once per route class", ["route_class"], registry=r
        )
        self.admission_rejected = LoopCounter(
            "admission_rejected_total",
            "Requests refused with 503 before any work, by route class and reason (limit, deadline)",
            ["route_class", "reason"],
            r,
        )
        self.queue_wait = LoopHistogram(
            "admission_queue_wait_seconds",
            "From a request's first byte to the start of its work, per route class (admitted requests)",
            ["route_class"],
            WAIT_BUCKETS,
            r,
        )
        self._request_series: dict[tuple[str, str, int], tuple[CounterSeries, HistogramSeries]] = {}

    def count_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """One answered request: its count and latency, by route template, method and status."""
        series = self._request_series.get((route, method, status)) or self.request_series(
            route, method, status
        )
        series[0].inc()
        series[1].observe(seconds)

    def request_series(self, route: str, method: str, status: int) -> tuple[CounterSeries, HistogramSeries]:
        """The count and latency series of one label set, looked up once per label set.

        The key is the caller's values, not their strings: two `labels()` calls took 3.4 µs per
        request under prometheus_client.
        """
        key = (route, method, status)
        series = self._request_series.get(key)
        if series is None:
            series = self._request_series[key] = (
                self.requests.labels(route, method, status),
                self.latency.labels(route, method, status),
            )
        return series


class DigitObserver:
    """The digit pipeline's metric callbacks: stage latencies, batch sizes, queue refusals."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._stages: dict[str, Any] = {}  # stage -> its histogram child, looked up once per stage

    def stage(self, name: str, seconds: float) -> None:
        """How long one digit image spent in a stage: decode, preprocess or inference."""
        child = self._stages.get(name)
        if child is None:  # the series appears on first use
            child = self._stages[name] = self.metrics.stage.labels("mnist", name)
        child.observe(seconds)

    def batch(self, size: int, seconds: float) -> None:
        """One network call on `size` images."""
        self.metrics.batch_size.observe(size)
        self.stage("inference", seconds)

    def rejected(self, reason: str) -> None:
        """A job refused by a queue: "queue_full" or "deadline"."""
        self.metrics.rejected.labels(reason).inc()

    def second_look(self, outcome: str, forms: int) -> None:
        """`forms` unsure digits read again ("read") or answered at first reading ("skipped")."""
        self.metrics.second_looks.labels(outcome).inc(forms)
