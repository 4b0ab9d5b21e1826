"""A missing service skips a test on a laptop and fails it in CI."""

from __future__ import annotations

import pytest

from services import require


def test_missing_service_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    require(True, "anything")  # present: nothing happens
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="RabbitMQ is not available"):
        require(False, "RabbitMQ")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="RabbitMQ is required in CI"):
        require(False, "RabbitMQ")
