"""Fixtures shared by the backend tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from seadragon.backends.http import HTTPBackend


@pytest.fixture
async def closing() -> AsyncIterator[list[HTTPBackend]]:
    """Backends appended here are closed after the test."""
    backends: list[HTTPBackend] = []
    yield backends
    for backend in backends:
        await backend.close()
