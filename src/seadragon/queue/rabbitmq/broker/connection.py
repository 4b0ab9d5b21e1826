"""One robust AMQP connection per process, the channels on it, and what broker errors mean.

Every failure of the broker or of a channel is translated here, and only here, into
Seadragon's ``QueueUnavailable`` (``broker_call``), or dropped where a failure is
harmless (``tolerated``: a stale ack after a reconnect, a heartbeat the next beat
repeats). Anything else is a bug and propagates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

import aio_pika
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError
from aiormq.abc import AbstractChannel

from seadragon.errors import QueueUnavailable
from seadragon.queue.rabbitmq.broker.outage import quiet_outages

log = logging.getLogger(__name__)

#: The default 5 s would delay recovery after a broker restart by up to 5 s
#: (``docs/architecture.md``, "Delivery guarantees").
RECONNECT_INTERVAL_S = 1.0
CONNECT_TIMEOUT_S = 5.0

Listener = Callable[[], None]

#: What a broker operation raises when the broker or the channel is not there (aiormq's
#: ChannelInvalidStateError is a RuntimeError, not an AMQPError).
_BROKER_ERRORS = (AMQPError, ChannelInvalidStateError, ConnectionError, TimeoutError)


@contextlib.contextmanager
def broker_call(what: str) -> Iterator[None]:
    """A broker failure inside the block raises ``QueueUnavailable`` ("``what``: ...")."""
    try:
        yield
    except QueueUnavailable:
        raise
    except _BROKER_ERRORS as exc:
        raise QueueUnavailable(f"{what}: {exc!r}") from None


@contextlib.contextmanager
def tolerated(what: str) -> Iterator[None]:
    """A broker failure inside the block is harmless here: note it and go on."""
    try:
        yield
    except (*_BROKER_ERRORS, QueueUnavailable) as exc:
        log.debug("%s failed, harmlessly: %r", what, exc)


class Connection:
    """A lazily opened ``connect_robust`` connection whose ``connected`` tracks the real state."""

    def __init__(self, url: str, *, name: str, reconnect_interval: float = RECONNECT_INTERVAL_S):
        self._url = url
        self._name = name
        self._reconnect_interval = reconnect_interval
        self._lock = asyncio.Lock()
        self._conn: AbstractRobustConnection | None = None
        self._connected = False
        self._up = asyncio.Event()
        self._on_lost: list[Listener] = []
        self._on_restored: list[Listener] = []

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def name(self) -> str:
        """The connection name the broker shows (``rabbitmqctl list_connections``)."""
        return self._name

    def on_lost(self, listener: Listener) -> None:
        """Call ``listener`` whenever the connection drops (before it is restored)."""
        self._on_lost.append(listener)

    def on_restored(self, listener: Listener) -> None:
        """Call ``listener`` once the connection and its channels are back."""
        self._on_restored.append(listener)

    async def open(self) -> AbstractRobustConnection:
        """Connect once; concurrent callers share the one connection."""
        async with self._lock:
            if self._conn is not None:
                return self._conn
            quiet_outages()
            try:
                conn = await aio_pika.connect_robust(
                    self._url,
                    reconnect_interval=self._reconnect_interval,
                    timeout=CONNECT_TIMEOUT_S,
                    client_properties={"connection_name": self._name},
                )
            except (*_BROKER_ERRORS, OSError) as exc:
                raise QueueUnavailable(f"cannot connect to RabbitMQ: {exc}") from None
            conn.close_callbacks.add(self._lost)
            conn.reconnect_callbacks.add(self._restored)
            self._conn = conn
            self._set_state(True)
            return conn

    async def channel(self, *, on_return_raises: bool = False) -> AbstractRobustChannel:
        """A new robust channel with publisher confirms (reopened after a reconnect)."""
        conn = await self.open()
        channel = conn.channel(publisher_confirms=True, on_return_raises=on_return_raises)
        with broker_call("cannot open a RabbitMQ channel"):
            await channel.initialize(timeout=CONNECT_TIMEOUT_S)
        return channel

    async def wait_connected(self, within: float) -> bool:
        """Wait up to ``within`` seconds for the connection to be usable."""
        if self._connected:
            return True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._up.wait()
        return self._connected

    async def close(self) -> None:
        async with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            self._connected = False
            self._up.clear()
            with tolerated("closing the connection"):
                await conn.close()

    # Callbacks from aio-pika --------------------------------------------------------

    def _lost(self, *_: Any) -> None:
        if self._conn is None or not self._connected:
            return
        log.warning("RabbitMQ connection %s lost; reconnecting", self._name)
        self._set_state(False)

    def _restored(self, *_: Any) -> None:
        log.info("RabbitMQ connection %s restored", self._name)
        self._set_state(True)

    def _set_state(self, up: bool) -> None:
        self._connected = up
        if up:
            self._up.set()
        else:
            self._up.clear()
        for listener in self._on_restored if up else self._on_lost:
            try:
                listener()
            except Exception:  # an aio-pika callback boundary: one listener must not stop the rest
                log.exception("connection listener failed")


async def underlay(channel: AbstractRobustChannel, within: float) -> AbstractChannel:
    """The open AMQP channel under a robust one; waits up to ``within`` s for it to reopen."""
    try:
        async with asyncio.timeout(within):
            while True:
                await channel.ready()
                raw = await channel.get_underlay_channel()
                if not raw.is_closed:
                    return raw
                # Closed by a channel error a moment ago; aio-pika is reopening it.
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise QueueUnavailable("RabbitMQ is not reachable") from None


class Channels:
    """The channels of one process, by job: opened by ``open``, reopened by aio-pika.

    ``publish`` has confirms and raises on returns (a NO_ROUTE is how a worker learns its
    gateway is gone); ``admin`` declares, reads depths and purges (a failed passive
    declare closes it); ``take`` gets and acks jobs (its death hands back what was taken
    on it); ``consume`` hears the reply, control, heartbeat, doorbell and dead queues.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._open: dict[str, AbstractRobustChannel] = {}

    async def open(self) -> None:
        conn = self._connection
        self._open = {
            "publish": await conn.channel(on_return_raises=True),
            "admin": await conn.channel(),
            "take": await conn.channel(),
            "consume": await conn.channel(),
        }

    def down(self, role: str) -> bool:
        """True while the channel is not open (not yet, or during an outage)."""
        channel = self._open.get(role)
        return channel is None or channel.is_closed

    def _get(self, role: str) -> AbstractRobustChannel:
        channel = self._open.get(role)
        if channel is None:
            raise QueueUnavailable("the queue is not started")
        return channel

    @property
    def publish(self) -> AbstractRobustChannel:
        return self._get("publish")

    @property
    def admin(self) -> AbstractRobustChannel:
        return self._get("admin")

    @property
    def take(self) -> AbstractRobustChannel:
        return self._get("take")

    @property
    def consume(self) -> AbstractRobustChannel:
        return self._get("consume")
