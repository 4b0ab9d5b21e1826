"""Settings fail loudly and early, naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from seadragon.config import load_settings
from seadragon.errors import ConfigError


def test_defaults_are_embedded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.queue == "memory"
    assert settings.resolved_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.embedded_workers
    assert settings.aging_interval("low") == settings.aging_interval_s


@pytest.mark.parametrize(
    ("env", "value", "named"),
    [
        ("SEADRAGON_PORT", "eighty", "SEADRAGON_PORT"),
        ("SEADRAGON_PORT", "70000", "SEADRAGON_PORT"),
        ("SEADRAGON_QUEUE", "kafka", "SEADRAGON_QUEUE"),
        ("SEADRAGON_AGING_INTERVAL_S", "-1", "SEADRAGON_AGING_INTERVAL_S"),
        ("SEADRAGON_OLLAMA_URL", "gpu1:11434", "SEADRAGON_OLLAMA_URL"),
        ("SEADRAGON_BACKENDS", "not json", "SEADRAGON_BACKENDS"),
        ("SEADRAGON_BANDS", '["high", "high"]', "SEADRAGON_BANDS"),
        ("SEADRAGON_TRUSTED_PROXIES", '["lb.internal"]', "SEADRAGON_TRUSTED_PROXIES"),
    ],
)
def test_bad_value_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: str, value: str, named: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert named in str(caught.value)


def test_unknown_band_in_overrides_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEADRAGON_AGING_INTERVALS", '{"urgent": 3}')
    with pytest.raises(ConfigError, match="unknown band 'urgent'"):
        load_settings()


def test_config_file_and_environment_precedence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "seadragon.toml"
    config.write_text(
        'port = 9000\nqueue = "rabbitmq"\n\n[[backends]]\nname = "gpu1"\n'
        'url = "http://gpu1:11434"\nslots = 4\n\n[model_options."llama3:8b"]\nnum_ctx = 8192\n'
    )
    monkeypatch.setenv("SEADRAGON_CONFIG", str(config))
    monkeypatch.setenv("SEADRAGON_PORT", "9100")
    settings = load_settings()
    assert settings.port == 9100  # the environment wins over the file
    assert settings.queue == "rabbitmq"
    assert settings.backends[0].slots == 4
    assert settings.model_options["llama3:8b"].num_ctx == 8192
    assert not settings.embedded_workers


def test_missing_or_broken_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SEADRAGON_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="no such file"):
        load_settings()
    broken = tmp_path / "broken.toml"
    broken.write_text("port = = 3")
    monkeypatch.setenv("SEADRAGON_CONFIG", str(broken))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()
