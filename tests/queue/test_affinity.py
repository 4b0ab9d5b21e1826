"""Model affinity in the in-process queue: with two models alternating over two Ollama
backends that each hold one model at a time, requests go to the backend that has their
model loaded, and the backends load far less often than without affinity.

Requests come one at a time, each once every slot waits for work again (the case where
the queue has a choice of slot); the fake Ollama counts its loads.
"""

from __future__ import annotations

from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass

from slots import make_job, outcome, wait_until, worker_info

from fakes.ollama_server import FakeOllama
from seadragon.backends.ollama import OllamaBackend
from seadragon.config import BackendConfig, Settings
from seadragon.queue.affinity import Affinity
from seadragon.queue.bands import Bands, QueuedJob
from seadragon.queue.base import End, Started
from seadragon.queue.capacity import WorkerTable
from seadragon.queue.memory import MemoryQueue
from seadragon.worker.pool import BackendWorker

MODELS = ["alpha", "beta"]
#: Runs of two requests per model: each model is asked for twice in a row, then the other.
TRAFFIC = ["alpha", "alpha", "beta", "beta"] * 4


async def loads_for(affinity: bool) -> tuple[int, dict[str, set[str]]]:
    """Loads over both backends for ``TRAFFIC``, and the backends each model ran on."""
    queue = MemoryQueue(Settings(model_affinity=affinity, model_refresh_s=60.0))
    await queue.start()
    ran_on: dict[str, set[str]] = {model: set() for model in MODELS}
    with ExitStack() as fakes:
        servers = [fakes.enter_context(FakeOllama(models=MODELS, max_loaded=1)) for _ in "12"]
        async with AsyncExitStack() as stack:
            workers = []
            for i, fake in enumerate(servers):
                config = BackendConfig(name=f"gpu{i}", url=fake.url, kind="ollama", slots=1)
                backend = OllamaBackend(config, {}, 10.0)
                worker = BackendWorker(queue, backend, Settings(model_refresh_s=60.0))
                await worker.start()
                stack.push_async_callback(backend.close)
                stack.push_async_callback(worker.close, 1.0)
                workers.append(worker)
            for model in TRAFFIC:
                await wait_until(lambda: all(w.waiting == w.backend.slots for w in workers))
                ticket = await queue.submit(make_job("high", model=model))
                events = await outcome(ticket)
                assert isinstance(events[-1], End)
                started = next(e for e in events if isinstance(e, Started))
                ran_on[model].add(started.backend)
        await queue.close()
    return sum(fake.loads for fake in servers), ran_on


async def test_affinity_sends_requests_where_their_model_is_loaded() -> None:
    without, _ = await loads_for(affinity=False)
    with_affinity, ran_on = await loads_for(affinity=True)
    print(f"\nmodel loads for {len(TRAFFIC)} requests: {without} without affinity, "
          f"{with_affinity} with")  # fmt: skip
    assert with_affinity < without
    # Each model loads once, on a backend of its own, and stays there.
    assert with_affinity == len(MODELS)
    assert all(len(backends) == 1 for backends in ran_on.values())
    assert ran_on["alpha"] != ran_on["beta"]


@dataclass(eq=False)
class Slot:
    worker_id: str
    models: frozenset[str]

    def free(self) -> bool:
        return True


def test_a_warm_slot_never_takes_a_job_below_its_own_next_one() -> None:
    workers = WorkerTable()
    cold = Slot("cold", frozenset({"a"}))
    warm = Slot("warm", frozenset({"a", "z"}))
    for slot, loaded in ((cold, []), (warm, ["a"])):
        info = worker_info(slot.worker_id, slot.models, 1)
        info.loaded = loaded
        workers.advertise(info)
    bands = Bands(["high", "low"], [1000.0, 1000.0])
    affinity = Affinity(workers, bands.first_for)
    a_low = QueuedJob(make_job("low", model="a"), 1, 0.0, 1e9, 0.0)
    bands.append(a_low)
    assert affinity.taker(cold, a_low, [cold, warm]) is warm
    # With a higher job of its own waiting, the warm slot is not handed the low one.
    bands.append(QueuedJob(make_job("high", model="z"), 0, 0.0, 1e9, 0.0))
    assert affinity.taker(cold, a_low, [cold, warm]) is cold
    assert Affinity(workers, bands.first_for, enabled=False).taker(cold, a_low, [warm]) is cold
