"""The paths a request can take to the fake upstream, each started as real processes.

``direct`` (OpenAI) and ``direct-ollama`` call the fake itself; ``memory`` and
``rabbitmq`` are Seadragon as an operator runs it (``seadragon serve``, plus one
``seadragon worker``); ``litellm`` is LiteLLM's proxy and ``bastion`` an Ollama-native
queue proxy, each from its own virtualenv (``bench/peers.py``). Gateway-side processes
run on the gateway core, the fake upstream and the load generator on the client core.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import signal
import subprocess
import sys
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import peers
from bench.processes import ROOT, SEADRAGON, cli, free_port, wait_until

MODELS = ("fast", "paced", "sched")
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent() -> None:
    """In a child: SIGTERM when the bench dies, however it dies, so nothing is left running."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Cores:
    gateway: str = "0"
    client: str = "1"

    def pin(self, cpu: str, args: list[str]) -> list[str]:
        return ["taskset", "-c", cpu, *args] if cpu else args


@dataclass
class Target:
    """One path: where to send, and how its callers ask for a priority."""

    name: str
    kind: str  # the API it speaks: "openai" or "ollama"
    url: str
    direct: str  # the direct path this one is compared with
    headers: dict[str, str] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    #: Extra request parts (``headers``, ``body``) for high and low priority, or None.
    high: dict[str, Any] | None = None
    low: dict[str, Any] | None = None
    base: str = ""
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]


@dataclass
class Lab:
    tmp: Path
    cores: Cores
    upstream: str = ""
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, name: str, args: list[str], env: dict[str, str], cpu: str) -> Any:
        with (self.tmp / f"{name}.log").open("ab") as out:
            proc = subprocess.Popen(
                self.cores.pin(cpu, args), env=env, cwd=ROOT, stdout=out,
                stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
            )  # fmt: skip
        self.procs.append(proc)
        return proc

    def stop(self, procs: list[subprocess.Popen[bytes]] | None = None) -> None:
        chosen = self.procs if procs is None else procs
        for proc in chosen:
            if proc.poll() is None:
                proc.terminate()
        for proc in chosen:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = [p for p in self.procs if p not in chosen]


async def ready(url: str, headers: dict[str, str] | None = None, what: str = "") -> None:
    async with httpx.AsyncClient(timeout=2) as client:

        async def up() -> bool:
            return (await client.get(url, headers=headers)).status_code == 200

        await wait_until(up, what or url, limit_s=600)  # a peer starts slowly on a busy machine


async def start_upstream(lab: Lab, service: float, capacity: int) -> None:
    port = free_port()
    args = [sys.executable, "-m", "bench.upstream", "--port", str(port)]
    args += ["--service", str(service), "--capacity", str(capacity)]
    lab.start("upstream", args, {**os.environ, "PYTHONPATH": str(ROOT)}, lab.cores.client)
    lab.upstream = f"http://127.0.0.1:{port}"
    await ready(f"{lab.upstream}/_stats", what="the fake upstream")


def directs(lab: Lab) -> list[Target]:
    return [
        Target("direct", "openai", f"{lab.upstream}/v1/chat/completions", "direct"),
        Target("direct-ollama", "ollama", f"{lab.upstream}/api/chat", "direct-ollama"),
    ]


def backends(upstream: str, streams: bool, sched_slots: int = 2) -> list[dict[str, Any]]:
    """The fake as Seadragon backends: ``fast`` with slots to spare and ``sched`` bounded,
    or (``streams``) 512 slots on ``paced`` for the 500-stream burst, in two backends of
    256. Kept apart because dispatch cost grows with idle slots (see bench/README.md)."""
    one = {"url": upstream, "kind": "openai"}
    if streams:
        return [
            {**one, "name": "paced-a", "slots": 256, "models": ["paced"]},
            {**one, "name": "paced-b", "slots": 256, "models": ["paced"]},
        ]
    return [
        {**one, "name": "fast", "slots": 128, "models": ["fast"]},
        {**one, "name": "sched", "slots": sched_slots, "models": ["sched"]},
    ]


async def start_seadragon(
    lab: Lab,
    mode: str,
    configured: list[dict[str, Any]],
    settings: dict[str, str] | None = None,
    name: str = "",
) -> Target:
    """``seadragon serve`` (and one ``seadragon worker`` in ``rabbitmq`` mode)."""
    name = name or mode
    data = lab.tmp / f"{name}-data"
    env = {
        **os.environ,
        # This checkout's sources, not whichever Seadragon the interpreter has installed.
        "PYTHONPATH": os.pathsep.join((str(ROOT / "src"), str(ROOT))),
        "SEADRAGON_DATA_DIR": str(data),
        "SEADRAGON_LOCAL_MODEL": "off",
        "SEADRAGON_QUEUE": mode,
        "SEADRAGON_LOG_LEVEL": "warning",
        "SEADRAGON_SECRET_KEY": uuid.uuid4().hex,
        "SEADRAGON_RABBITMQ_NAMESPACE": f"sdbench-{uuid.uuid4().hex[:8]}",
        "SEADRAGON_MAX_QUEUE_DEPTH": "5000",
        **(settings or {}),
    }
    models = {m for b in configured for m in b["models"]} or {"smollm2:135m"}
    env["SEADRAGON_BACKENDS"] = json.dumps(configured if mode == "memory" else [])
    user = ("users", "create", "bench", "--admin", "--password-stdin")
    await asyncio.to_thread(cli, env, *user, stdin="bench-pass-1\n")
    key = await asyncio.to_thread(cli, env, "keys", "create", "--user", "bench")
    port = free_port()
    target = Target(name, "openai", f"http://127.0.0.1:{port}/v1/chat/completions", "direct")
    target.base = f"http://127.0.0.1:{port}"
    target.headers = {"Authorization": f"Bearer {key}"}
    target.high = {"headers": {}}
    target.low = {"headers": {"X-Seadragon-Priority": "low"}}
    args = [*SEADRAGON, "serve", "--port", str(port)]
    target.procs.append(lab.start(f"{name}-gateway", args, env, lab.cores.gateway))
    if mode == "rabbitmq":
        worker_env = {**env, "SEADRAGON_BACKENDS": json.dumps(configured)}
        worker = lab.start(f"{name}-worker", [*SEADRAGON, "worker"], worker_env, lab.cores.gateway)
        target.procs.append(worker)
    target.env = env
    async with httpx.AsyncClient(timeout=2) as client:

        async def serving() -> bool:
            response = await client.get(f"{target.base}/v1/models", headers=target.headers)
            served = {m["id"] for m in response.json().get("data", [])}
            return response.status_code == 200 and served >= models

        await wait_until(serving, f"{name} serving the fake models", limit_s=600)
    return target


async def start_litellm(lab: Lab, sched_slots: int) -> Target:
    """LiteLLM's proxy, no database; the ``sched`` model has a parallel-request limit so
    that its scheduler (``priority`` in the body: lower goes first) has a queue to order."""
    exe = peers.executable(peers.LITELLM)
    port = free_port()
    base = {"api_base": f"{lab.upstream}/v1", "api_key": "none"}
    models = [{"model_name": m, "litellm_params": {**base, "model": f"openai/{m}"}} for m in MODELS]
    models[2]["litellm_params"]["max_parallel_requests"] = sched_slots
    config = {"model_list": models, "litellm_settings": {"drop_params": True}}
    path = lab.tmp / "litellm.json"  # YAML is a superset of JSON
    path.write_text(json.dumps(config))
    env = {key: value for key, value in os.environ.items() if not key.startswith("SEADRAGON")}
    env |= {
        "LITELLM_MASTER_KEY": "sk-bench",
        "LITELLM_LOG": "ERROR",
        "NO_DOCS": "True",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }  # no download at start
    env.pop("DATABASE_URL", None)
    args = [str(exe), "--config", str(path), "--host", "127.0.0.1", "--port", str(port)]
    args += ["--num_workers", "1"]
    proc = lab.start("litellm", args, env, lab.cores.gateway)
    target = Target("litellm", "openai", f"http://127.0.0.1:{port}/v1/chat/completions", "direct")
    target.base = f"http://127.0.0.1:{port}"
    target.headers = {"Authorization": "Bearer sk-bench"}
    target.procs.append(proc)
    target.high = {"body": {"priority": 0}}
    target.low = {"body": {"priority": 100}}
    await ready(f"{target.base}/health/liveliness", what="LiteLLM's proxy")
    return target


async def start_bastion(lab: Lab, dispatches: int, name: str = "bastion") -> Target:
    """The Ollama-side peer, on the fake's Ollama API; priority by ``X-Broker-Priority``."""
    exe = peers.executable(peers.BASTION)
    port = free_port()
    upstream = lab.upstream.removeprefix("http://")
    host, up_port = upstream.split(":")
    config = {
        "ollama": {"host": host, "port": int(up_port)},
        "server": {"host": "127.0.0.1", "port": port},
        # No GPU here: let it dispatch as fast as its scheduler can.
        "scheduler": {
            "max_concurrent_dispatches": dispatches,
            "concurrent_dispatch_delay_seconds": 0.0,
            "cooldown_seconds": 0.0,
        },
        "models": {f"{m}:latest": {"vram_gb": 0.1, "always_allowed": True} for m in MODELS},
    }
    path = lab.tmp / f"{name}.json"
    path.write_text(json.dumps(config))
    env = {key: value for key, value in os.environ.items() if not key.startswith("SEADRAGON")}
    env["HOME"] = str(lab.tmp / f"{name}-home")
    proc = lab.start(name, [str(exe), "--config", str(path)], env, lab.cores.gateway)
    target = Target(name, "ollama", f"http://127.0.0.1:{port}/api/chat", "direct-ollama")
    target.base = f"http://127.0.0.1:{port}"
    target.procs.append(proc)
    target.high = {"headers": {"X-Broker-Priority": "interactive"}}
    target.low = {"headers": {"X-Broker-Priority": "background"}}
    await ready(f"{target.base}/api/tags", what="bastion")
    return target


async def delete_rabbitmq(target: Target) -> None:
    from bench.processes import delete_namespace

    with suppress(Exception):
        await delete_namespace(target.env, MODELS)
