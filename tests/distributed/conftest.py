"""A real distributed Seadragon for the tests here: RabbitMQ, ``seadragon serve`` gateways
and ``seadragon worker`` processes in front of the fake OpenAI-compatible upstream, all
started by ``bench.processes.start_stack`` exactly as an operator would.

What the clients get is counted by ``tests.distributed.clients``.

Without a broker these tests skip, except with ``CI`` set, where they fail.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bench.processes import Stack, start_stack

from services import require_rabbitmq

#: The fake's pace: a request for n tokens takes about n * TOKEN_DELAY_S.
TOKENS = 200
TOKEN_DELAY_S = 0.01


@asynccontextmanager
async def cluster(
    tmp: Path,
    *,
    gateways: int = 2,
    workers: int = 2,
    slots: int = 1,
    fake_args: tuple[str, ...] = (),
    **settings: str,
) -> AsyncIterator[Stack]:
    """A running rabbitmq stack; on failure the tail of every process's log is printed."""
    require_rabbitmq()
    env = {"SEADRAGON_LOG_LEVEL": "warning", **settings}
    args = ("--tokens", str(TOKENS), "--token-delay", str(TOKEN_DELAY_S), *fake_args)
    stack: Stack | None = None
    try:
        async with start_stack(
            "rabbitmq",
            str(tmp),
            gateways=gateways,
            workers=workers,
            slots=slots,
            upstream_args=args,
            settings=env,
        ) as stack:
            yield stack
    except BaseException:
        if stack is not None:
            for name in stack.processes:
                print(f"----- {name}.log (tail) -----\n{stack.log(name)[-3000:]}")
        raise
