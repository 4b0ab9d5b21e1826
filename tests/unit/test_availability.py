"""Down or gone: what the gateway remembers of the backends that served a model."""

from __future__ import annotations

from seadragon.queue.availability import ModelAvailability
from seadragon.queue.status import WorkerInfo


def worker(backend: str, models: list[str], reachable: bool = True) -> WorkerInfo:
    return WorkerInfo(
        id=f"host:1:{backend}",
        backend=backend,
        kind="ollama",
        url="http://127.0.0.1:1",
        slots=1,
        busy=0,
        models=models,
        reachable=reachable,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_worker_that_vanished_leaves_its_models_down_for_the_window() -> None:
    clock = Clock()
    availability = ModelAvailability(60.0, clock)
    availability.observe([worker("gpu1", ["llama3"])])
    clock.now += 30
    assert availability.is_down("llama3", [])
    clock.now += 31
    assert not availability.is_down("llama3", [])


def test_an_unreachable_worker_keeps_its_models_down() -> None:
    availability = ModelAvailability(0.0, Clock())
    assert availability.is_down("llama3", [worker("gpu1", ["llama3"], reachable=False)])
    assert not availability.is_down("other", [worker("gpu1", ["llama3"], reachable=False)])


def test_a_model_every_answering_backend_dropped_is_gone() -> None:
    availability = ModelAvailability(60.0, Clock())
    availability.observe([worker("gpu1", ["llama3"]), worker("gpu2", ["llama3"])])
    assert availability.is_down("llama3", [worker("gpu1", [])])
    assert not availability.is_down("llama3", [worker("gpu1", []), worker("gpu2", [])])
