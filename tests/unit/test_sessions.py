"""Session JWTs: pinned HS256, required expiry, forged and foreign tokens refused; the secret."""

from __future__ import annotations

import base64
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from seadragon.auth.sessions import SessionTokens, load_secret
from seadragon.config import Settings
from seadragon.errors import AuthenticationError, ConfigError

SECRET = "unit-test-secret-that-is-long-enough-for-hs512-too-0123456789abcdef"


def b64(data: dict[str, object]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims(**overrides: object) -> dict[str, object]:
    now = int(datetime.now(UTC).timestamp())
    values: dict[str, object] = {"sub": "1", "jti": "abc", "iat": now, "exp": now + 600}
    values.update(overrides)
    return values


def test_issue_then_decode_round_trips() -> None:
    tokens = SessionTokens(SECRET, ttl_s=600)
    issued = tokens.issue(42)
    decoded = tokens.decode(issued.token)
    assert decoded.user_id == 42
    assert decoded.session_id == issued.session_id
    assert jwt.get_unverified_header(issued.token)["alg"] == "HS256"
    assert tokens.csrf_matches(decoded, issued.csrf_token)
    assert not tokens.csrf_matches(decoded, "another-csrf-token")
    assert issued.csrf_token not in issued.token  # only its digest travels in the JWT
    assert timedelta(seconds=590) < issued.expires_at - datetime.now(UTC) <= timedelta(600)


def test_alg_none_is_refused() -> None:
    token = b64({"alg": "none", "typ": "JWT"}) + "." + b64(claims()) + "."
    with pytest.raises(AuthenticationError):
        SessionTokens(SECRET, 600).decode(token)


def test_token_signed_with_another_key_is_refused() -> None:
    token = jwt.encode(claims(), "a-different-secret-also-long-enough-0123456789", "HS256")
    with pytest.raises(AuthenticationError):
        SessionTokens(SECRET, 600).decode(token)


def test_other_algorithms_are_refused_even_with_the_right_key() -> None:
    token = jwt.encode(claims(), SECRET, algorithm="HS512")
    with pytest.raises(AuthenticationError):
        SessionTokens(SECRET, 600).decode(token)


def test_expired_and_expiry_less_tokens_are_refused() -> None:
    tokens = SessionTokens(SECRET, 600)
    expired = jwt.encode(claims(exp=int(datetime.now(UTC).timestamp()) - 5), SECRET, "HS256")
    no_exp = claims()
    del no_exp["exp"]
    for token in (expired, jwt.encode(no_exp, SECRET, "HS256")):
        with pytest.raises(AuthenticationError):
            tokens.decode(token)


def test_tampered_payload_is_refused() -> None:
    tokens = SessionTokens(SECRET, 600)
    header, _, signature = tokens.issue(1).token.split(".")
    forged = ".".join([header, b64(claims(sub="2")), signature])
    with pytest.raises(AuthenticationError):
        tokens.decode(forged)


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "a.b.c", "x" * 10_000, "é.é.é", "\x00", jwt.encode(claims(sub="x"), SECRET)],
)
def test_junk_is_an_authentication_error(token: str) -> None:
    with pytest.raises(AuthenticationError):
        SessionTokens(SECRET, 600).decode(token)


def test_generated_secret_is_persisted_once_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", secret_key="")
    first = load_secret(settings)
    path = tmp_path / "data" / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert load_secret(settings) == first


def test_configured_secret_wins_and_must_be_long_enough(tmp_path: Path) -> None:
    assert load_secret(Settings(data_dir=tmp_path, secret_key=SECRET)) == SECRET
    assert not (tmp_path / "secret_key").exists()
    with pytest.raises(ConfigError):
        load_secret(Settings(data_dir=tmp_path, secret_key="short"))
