"""Start a real Seadragon stack as separate processes: fake upstream, gateway(s), worker(s).

Used by the benchmarks and by the multi-process tests, so both exercise exactly what
an operator runs: the ``seadragon`` command with environment settings.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SEADRAGON = [sys.executable, "-m", "seadragon"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    upstream: str
    gateways: list[str]
    key: str
    env: dict[str, str]
    logs: Path
    slots: int = 1
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    extra_report: Callable[[], Awaitable[None]] | None = None

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    @property
    def direct_chat(self) -> str:
        return f"{self.upstream}/v1/chat/completions"

    @property
    def gateway_chat(self) -> str:
        return f"{self.gateways[0]}/v1/chat/completions"

    @property
    def namespace(self) -> str:
        return self.env["SEADRAGON_RABBITMQ_NAMESPACE"]

    @property
    def database(self) -> Path:
        """The SQLite file every gateway of the stack shares (request log included)."""
        return self.logs / "data" / "seadragon.db"

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        self.processes[name].send_signal(sig)
        self.processes[name].wait(timeout=10)

    def start_worker(
        self, name: str, env: dict[str, str] | None = None, args: list[str] | None = None
    ) -> None:
        """Start ``seadragon worker`` as process ``name`` (again, after a kill), logging to
        ``{name}.log``; ``env`` adds settings for this process only, and ``args`` replace
        the default ones (the fake upstream, named ``fake-{name}``)."""
        old = self.processes.get(name)
        if old is not None and old.poll() is None:
            raise RuntimeError(f"{name} is still running")
        if args is None:
            args = ["--url", self.upstream, "--kind", "openai", "--slots", str(self.slots)]
            args += ["--name", f"fake-{name}"]
        self.processes[name] = spawn(
            [*SEADRAGON, "worker", *args],
            {**self.env, **(env or {})},
            self.logs / f"{name}.log",
        )

    def log(self, name: str) -> str:
        """What process ``name`` wrote so far (every run of it, appended)."""
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


async def wait_until(check: Callable[[], Awaitable[bool]], what: str, limit_s: float = 60) -> None:
    try:
        async with asyncio.timeout(limit_s):
            while True:
                with suppress(httpx.HTTPError):
                    if await check():
                        return
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise TimeoutError(f"{what}: not within {limit_s:g} s") from None


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [*SEADRAGON, *args],
        env=env,
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@asynccontextmanager
async def start_stack(
    mode: str,
    tmp: str,
    *,
    gateways: int = 1,
    workers: int = 1,
    slots: int = 1,
    upstream_args: tuple[str, ...] = (),
    settings: dict[str, str] | None = None,
) -> AsyncIterator[Stack]:
    """A running stack; everything is stopped (SIGTERM, then SIGKILL) on exit."""
    logs = Path(tmp)
    up_port = free_port()
    upstream = f"http://127.0.0.1:{up_port}"
    env = {
        **os.environ,
        # This checkout's sources first, ahead of whatever ``seadragon`` is installed.
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "SEADRAGON_DATA_DIR": str(logs / "data"),
        "SEADRAGON_LOCAL_MODEL": "off",
        "SEADRAGON_QUEUE": mode,
        "SEADRAGON_LOG_LEVEL": "warning",
        "SEADRAGON_SECRET_KEY": uuid.uuid4().hex,
        "SEADRAGON_RABBITMQ_NAMESPACE": f"sdbench-{uuid.uuid4().hex[:8]}",
        # Several workers share this machine: no fixed metrics port unless asked for.
        "SEADRAGON_WORKER_METRICS_PORT": "0",
        **(settings or {}),
    }
    backend = {"name": "fake", "url": upstream, "kind": "openai", "slots": slots}
    if mode == "memory":
        env["SEADRAGON_BACKENDS"] = json.dumps([backend])
    stack = Stack(upstream=upstream, gateways=[], key="", env=env, logs=logs, slots=slots)
    procs = stack.processes
    try:
        procs["upstream"] = spawn(
            [
                sys.executable,
                "-m",
                "tests.fakes.openai_server",
                "--port",
                str(up_port),
                "--models",
                "bench",
                *upstream_args,
            ],
            env,
            logs / "upstream.log",
        )
        cli(
            env,
            "users",
            "create",
            "bench",
            "--admin",
            "--password-stdin",
            stdin="bench-password-1\n",
        )
        stack.key = cli(env, "keys", "create", "--user", "bench")
        for i in range(gateways):
            port = free_port()
            procs[f"gateway{i}"] = spawn(
                [*SEADRAGON, "serve", "--port", str(port)], env, logs / f"gateway{i}.log"
            )
            stack.gateways.append(f"http://127.0.0.1:{port}")
        if mode == "rabbitmq":
            for i in range(workers):
                stack.start_worker(f"worker{i}")
        async with httpx.AsyncClient(timeout=2) as client:
            for gateway in stack.gateways:

                async def ready(gateway: str = gateway) -> bool:
                    response = await client.get(f"{gateway}/v1/models", headers=stack.auth)
                    return response.status_code == 200 and any(
                        m["id"] == "bench" for m in response.json()["data"]
                    )

                await wait_until(ready, f"gateway {gateway} serving the fake model")
        yield stack
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if mode == "rabbitmq":
            # The band queues and exchanges are durable: do not leave them on the broker.
            with suppress(Exception):
                await delete_namespace(env)


async def delete_namespace(env: dict[str, str], models: tuple[str, ...] = ("bench",)) -> None:
    """Delete the durable queues and the exchanges of the stack's RabbitMQ namespace."""
    from seadragon.config import Settings
    from seadragon.queue.rabbitmq.broker.names import Names
    from seadragon.queue.rabbitmq.broker.names import delete_namespace as delete_queues

    bands = json.loads(env.get("SEADRAGON_BANDS", '["high", "normal", "low"]'))
    url = env.get("SEADRAGON_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    default_shards = Settings.model_fields["rabbitmq_fair_shards"].default
    shards = int(env.get("SEADRAGON_RABBITMQ_FAIR_SHARDS", default_shards))
    await delete_queues(url, Names(env["SEADRAGON_RABBITMQ_NAMESPACE"]), models, bands, shards)
