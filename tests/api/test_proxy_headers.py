"""Behind a load balancer: ``seadragon serve`` believes X-Forwarded-For only from the
proxies in ``trusted_proxies``, and login throttling counts per real client."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from bench.processes import start_stack

BAD_LOGIN = {"username": "bench", "password": "not the password"}


async def failures_then(gateway: str, first: str, then: str) -> int:
    """Three failed logins forwarded for ``first``, then the status of one for ``then``."""
    async with httpx.AsyncClient(base_url=gateway) as client:
        for _ in range(3):
            response = await client.post(
                "/api/auth/login", json=BAD_LOGIN, headers={"X-Forwarded-For": first}
            )
            assert response.status_code == 401, response.text
        response = await client.post(
            "/api/auth/login", json=BAD_LOGIN, headers={"X-Forwarded-For": then}
        )
        return response.status_code


@pytest.mark.parametrize(
    ("trusted", "other_client_status"),
    [('["127.0.0.1"]', 401), ('["10.9.9.0/24"]', 429), (None, 429)],
    ids=["proxy-trusted", "proxy-not-trusted", "default-trusts-no-proxy"],
)
async def test_throttling_counts_the_forwarded_client_only_from_trusted_proxies(
    tmp_path: Path, trusted: str | None, other_client_status: int
) -> None:
    # By default not even loopback is believed: any local process could forge the header.
    settings = {"SEADRAGON_LOGIN_MAX_FAILURES": "3"}
    if trusted is not None:
        settings["SEADRAGON_TRUSTED_PROXIES"] = trusted
    async with start_stack("memory", str(tmp_path), settings=settings) as stack:
        gateway = stack.gateways[0]
        # Trusted: 10.0.0.2 is another client, not locked out by 10.0.0.1's failures.
        # Not trusted: both are this test's own address, locked out after three.
        assert await failures_then(gateway, "10.0.0.1", "10.0.0.2") == other_client_status
        async with httpx.AsyncClient(base_url=gateway) as client:
            locked = await client.post(
                "/api/auth/login", json=BAD_LOGIN, headers={"X-Forwarded-For": "10.0.0.1"}
            )
            assert locked.status_code == 429
