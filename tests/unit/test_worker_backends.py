"""``seadragon worker --backend``: picking entries of the configured backends."""

from __future__ import annotations

import pytest

from seadragon.config import BackendConfig, Settings
from seadragon.errors import ConfigError
from seadragon.worker.main import only_backends


def settings() -> Settings:
    backends = [
        BackendConfig(name=name, url=f"http://{name}:11434", slots=slots)
        for name, slots in (("gpu1", 4), ("gpu2", 2), ("gpu3", 1))
    ]
    return Settings(backends=backends, local_model="auto")


def test_picks_the_named_backends_in_the_order_given_once_each() -> None:
    picked = only_backends(settings(), ["gpu3", "gpu1", "gpu3"])
    assert [(b.name, b.slots) for b in picked.backends] == [("gpu3", 1), ("gpu1", 4)]
    assert picked.local_model == "off"  # a picked worker never adds the bundled model


def test_an_unknown_name_is_a_config_error_listing_the_configured_ones() -> None:
    with pytest.raises(ConfigError) as raised:
        only_backends(settings(), ["gpu1", "gpu9"])
    assert "'gpu9'" in raised.value.message
    assert "configured: gpu1, gpu2, gpu3" in raised.value.message
