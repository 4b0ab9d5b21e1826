"""The worker's own ``/metrics`` listener (``worker_metrics_host``:``worker_metrics_port``).

A worker has no accounts to check an admin key against, so the listener is bound to
127.0.0.1 by default; binding it elsewhere requires ``metrics_token``, which Prometheus
then presents as ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

from aiohttp import web

from seadragon.config import Settings
from seadragon.errors import ConfigError
from seadragon.metrics import CONTENT_TYPE, Metrics

log = logging.getLogger("seadragon.worker")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_token(authorization: str | None, token: str) -> bool:
    # The gateway's check, repeated: the worker must not import the HTTP API.
    if not token:
        return True
    scheme, _, presented = (authorization or "").strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), token.encode()
    )


class MetricsServer:
    """Serves one ``Metrics`` registry over HTTP until closed."""

    def __init__(self, metrics: Metrics, settings: Settings) -> None:
        host, token = settings.worker_metrics_host, settings.metrics_token
        if not is_loopback(host) and not token:
            raise ConfigError(
                f"worker_metrics_host {host!r} is not a loopback address: set "
                "SEADRAGON_METRICS_TOKEN so that only Prometheus can read the metrics"
            )
        self.metrics = metrics
        self.host = host
        self.port = settings.worker_metrics_port
        self.token = token
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            # Serving requests matters more than exporting figures about them: say so, go on.
            log.error(
                "worker metrics: cannot listen on %s:%d (%s); set SEADRAGON_WORKER_METRICS_PORT "
                "to a free port, or 0 for none",
                self.host,
                self.port,
                exc.strerror or type(exc).__name__,
            )
            return
        log.info("worker metrics on http://%s:%d/metrics", self.host, self.port)

    async def _serve(self, request: web.Request) -> web.Response:
        if not check_token(request.headers.get("Authorization"), self.token):
            return web.json_response(
                {
                    "error": {
                        "message": "metrics need the metrics token",
                        "type": "authentication_error",
                        "param": None,
                        "code": "invalid_api_key",
                    }
                },
                status=401,
            )
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
