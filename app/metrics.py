"""Prometheus metrics, one registry per app so several apps (tests) never clash."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # the *_created series only double the output

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
WAIT_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
STAGE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)


class Metrics:
    """The service's instruments: requests, latency by route and status, stage latency, in flight, models."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by route, method and status",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.stage = Histogram(
            "inference_stage_duration_seconds",
            "Latency of one stage (decode, preprocess, inference, ...)",
            ["model", "stage"],
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("http_requests_in_flight", "HTTP requests being handled", registry=r)
        self.queue_depth = Gauge("inference_queue_depth", "Images waiting for the digit network", registry=r)
        self.batch_size = Histogram(
            "inference_batch_size", "Images per network call", buckets=(1, 2, 4, 8, 16, 32, 64), registry=r
        )
        self.rejected = Counter("inference_rejected_total", "Requests answered 503", ["reason"], registry=r)
        self._admission(r)
        self._models(r)

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
        self.admission_rejected = Counter(
            "admission_rejected_total",
            "Requests refused with 503 before any work, by route class and reason (limit, deadline)",
            ["route_class", "reason"],
            registry=r,
        )
        self.queue_wait = Histogram(
            "admission_queue_wait_seconds",
            "From a request's first byte to the start of its work, per route class (admitted requests)",
            ["route_class"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self._request_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def count_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """One answered request: its count and latency, by route template, method and status.

        The two series are looked up once per label set (two `labels()` calls took 3.4 µs per
        request, all of this 1.2 µs); the label sets are prometheus's own, so this holds no more.
        """
        key = (route, method, status)
        series = self._request_series.get(key)
        if series is None:
            series = self._request_series[key] = (
                self.requests.labels(route, method, status),
                self.latency.labels(route, method, status),
            )
        series[0].inc()
        series[1].observe(seconds)


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
        """A request refused by a queue: "queue_full" or "deadline"."""
        self.metrics.rejected.labels(reason).inc()
