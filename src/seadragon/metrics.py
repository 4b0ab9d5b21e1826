"""Prometheus metrics of one process (a gateway, a worker, or a gateway with its workers).

Each process owns one ``Metrics`` (on ``app.state.metrics`` or the worker's stack) with
its own registry, so figures from several gateways and workers add up: a request is
counted by the gateway that accepted it, a slot by the process that runs it, and the
queue gauges count the requests this process queued and still waits for (in RabbitMQ
mode each gateway's share; ``sum`` over gateways is the whole queue).

Request figures come from the finished request's log row (``observe_request`` is a
request-log observer), so metrics, the structured log line and the request log always
agree. Labels are bounded: routes, served models, bands, outcomes, error codes and
backend names, never a user, a key or a request id. See ``docs/metrics.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from functools import lru_cache
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from seadragon.errors import SeadragonError
from seadragon.queue.status import QueueStatus, WorkerInfo

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Queue waits: from "next in line" to the aging chain and the maximum queue wait.
WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60, 120, 300)
#: Model latencies: first token within milliseconds to generations of minutes.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
RETRY_BUCKETS = (1, 2, 5, 10, 30, 60, 300, 3600, 86400)


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


class WorkerCollector(Collector):
    """Slots busy and total and reachability of the backends this process feeds."""

    def __init__(self, workers: Callable[[], Iterable[WorkerInfo]]) -> None:
        self._workers = workers

    def collect(self) -> Iterator[Metric]:
        slots = GaugeMetricFamily(
            "seadragon_backend_slots", "Requests a backend may run at once.", labels=["backend"]
        )
        busy = GaugeMetricFamily(
            "seadragon_backend_slots_busy", "Slots running a request now.", labels=["backend"]
        )
        up = GaugeMetricFamily(
            "seadragon_backend_up",
            "1 when the backend answered its last check.",
            labels=["backend"],
        )
        for worker in self._workers():
            slots.add_metric([worker.backend], worker.slots)
            busy.add_metric([worker.backend], worker.busy)
            up.add_metric([worker.backend], 1.0 if worker.reachable else 0.0)
        yield from (slots, busy, up)


class Metrics:
    """Every Seadragon metric of one process, in its own registry."""

    def __init__(self, bands: Iterable[str] = ()) -> None:
        self.bands = list(bands)
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        r = self.registry
        self.requests = Counter(
            "seadragon_requests",
            "Finished requests by route, model, entry band, outcome and error code.",
            ["route", "model", "band", "outcome", "reason"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "seadragon_queue_depth",
            "Requests this process queued that wait now, by current band and model.",
            ["band", "model"],
            registry=r,
        )
        self.queue_oldest = Gauge(
            "seadragon_queue_oldest_wait_seconds",
            "How long the longest-waiting of those requests has waited.",
            ["band", "model"],
            registry=r,
        )
        self.queue_wait = Histogram(
            "seadragon_queue_wait_seconds",
            "Time from queueing to a backend slot, by entry and dispatch band.",
            ["entry_band", "dispatch_band"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "seadragon_time_to_first_token_seconds",
            "Time from a slot taking the request to its first token.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.generation = Histogram(
            "seadragon_generation_seconds",
            "Time from a slot taking the request to its end.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.prompt_tokens = Counter(
            "seadragon_prompt_tokens", "Tokens in (prompts), by model.", ["model"], registry=r
        )
        self.completion_tokens = Counter(
            "seadragon_completion_tokens", "Tokens out (answers), by model.", ["model"], registry=r
        )
        self.promotions = Counter(
            "seadragon_queue_promotions",
            "Aging promotions (one per band climbed), counted when the request finishes.",
            ["from_band", "to_band"],
            registry=r,
        )
        self.rate_limited = Counter(
            "seadragon_rate_limited",
            "429 answers, by error code (queue_full, a limit's code, login throttling).",
            ["code"],
            registry=r,
        )
        self.retry_after = Histogram(
            "seadragon_retry_after_seconds",
            "The Retry-After given with 429 answers, by error code.",
            ["code"],
            buckets=RETRY_BUCKETS,
            registry=r,
        )

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, remembered: the lookup costs more than the update."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def watch_workers(self, workers: Callable[[], Iterable[WorkerInfo]]) -> None:
        """Export the slots of the backend workers this process runs."""
        self.registry.register(WorkerCollector(workers))

    # Observers ------------------------------------------------------------------------

    def observe_request(self, row: dict[str, Any]) -> None:
        """Count one finished request from its request-log row."""
        model, band = str(row["model"]), str(row["entry_band"])
        route = str(row.get("route") or row["kind"])
        kind = row.get("error_kind")
        reason = error_code(str(kind) if kind else None)
        self._child(self.requests, route, model, band, str(row["status"]), reason).inc()
        dispatch = row.get("dispatch_band")
        started, first = row.get("started_at"), row.get("first_token_at")
        wait = seconds_between(row.get("queued_at"), started)
        if wait is not None and dispatch:
            self._child(self.queue_wait, band, str(dispatch)).observe(wait)
            self._count_promotions(band, str(dispatch))
        ttft = seconds_between(started, first)
        if ttft is not None:
            self._child(self.ttft, model).observe(ttft)
        generation = seconds_between(started, row.get("finished_at"))
        if generation is not None and row["status"] == "ok":
            self._child(self.generation, model).observe(generation)
        if row.get("prompt_tokens"):
            self._child(self.prompt_tokens, model).inc(row["prompt_tokens"])
        if row.get("completion_tokens"):
            self._child(self.completion_tokens, model).inc(row["completion_tokens"])

    def _count_promotions(self, entry: str, dispatch: str) -> None:
        if entry not in self.bands or dispatch not in self.bands:
            return
        for index in range(self.bands.index(entry), self.bands.index(dispatch), -1):
            self._child(self.promotions, self.bands[index], self.bands[index - 1]).inc()

    def observe_rate_limited(self, code: str | None, retry_after: float | None) -> None:
        code = code or "rate_limited"
        self.rate_limited.labels(code).inc()
        if retry_after is not None:
            self.retry_after.labels(code).observe(retry_after)

    def observe_queue(self, status: QueueStatus, models: Iterable[str]) -> None:
        """Set the queue gauges from a fresh ``status()`` (called before each scrape)."""
        depth: dict[tuple[str, str], int] = {}
        oldest: dict[tuple[str, str], float] = {}
        for model in models:
            for band in self.bands:
                depth[band, model] = 0
                oldest[band, model] = 0.0
        for info in status.queued:
            key = (info.band, info.model)
            depth[key] = depth.get(key, 0) + 1
            oldest[key] = max(oldest.get(key, 0.0), info.waited_s)
        self.queue_depth.clear()
        self.queue_oldest.clear()
        for key, value in depth.items():
            self.queue_depth.labels(*key).set(value)
            self.queue_oldest.labels(*key).set(oldest[key])

    def render(self) -> bytes:
        """The registry in the Prometheus text exposition format."""
        return generate_latest(self.registry)


@lru_cache(maxsize=256)
def error_code(kind: str | None) -> str:
    """A bounded label for an error class name: its OpenAI ``code`` (``""`` for none)."""
    if not kind:
        return ""
    found = _subclass_named(SeadragonError, kind)
    return (found.code or "other") if found is not None else "other"


def _subclass_named(base: type[SeadragonError], name: str) -> type[SeadragonError] | None:
    for sub in base.__subclasses__():
        if sub.__name__ == name:
            return sub
        found = _subclass_named(sub, name)
        if found is not None:
            return found
    return None
