"""Web session tokens: HS256 JWTs carried in an HttpOnly cookie.

The algorithm is pinned when decoding (``alg: none`` and every other algorithm are
refused), ``exp`` is required, and the ``jti`` must name a live row in the sessions
table, which is what lets logout invalidate a token before it expires. The token also
carries a digest of the session's CSRF token, binding the double-submit cookie to it.

The signing secret is ``settings.secret_key`` or, without one, a random secret made once
and kept in ``data_dir/secret_key`` (mode 0600). Several gateways must share one secret:
set ``secret_key`` (or share the file) when running more than one.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt

from seadragon.config import Settings
from seadragon.errors import AuthenticationError, ConfigError
from seadragon.files import private_dir

ALGORITHM = "HS256"
MIN_SECRET_CHARS = 32
SECRET_FILE = "secret_key"  # noqa: S105 -- a file name, not a secret
_MAX_TOKEN_CHARS = 4096
_INVALID = "invalid or expired session"


@dataclass(frozen=True)
class IssuedSession:
    token: str
    session_id: str
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class SessionClaims:
    user_id: int
    session_id: str
    csrf_digest: str


def load_secret(settings: Settings) -> str:
    """The configured secret, or the persisted generated one (made on first use)."""
    if settings.secret_key:
        if len(settings.secret_key) < MIN_SECRET_CHARS:
            raise ConfigError(
                f"secret_key (SEADRAGON_SECRET_KEY): must be at least {MIN_SECRET_CHARS} characters"
            )
        return settings.secret_key
    return _persisted_secret(settings.data_dir / SECRET_FILE)


def _persisted_secret(path: Path) -> str:
    private_dir(path.parent)
    try:
        # O_EXCL: when two processes start together, exactly one writes the secret.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text().strip()
        if len(secret) < MIN_SECRET_CHARS:
            raise ConfigError(f"{path}: the stored secret is too short or empty") from None
        return secret
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret


def csrf_digest(csrf_token: str) -> str:
    return hashlib.sha256(csrf_token.encode("utf-8", "surrogatepass")).hexdigest()


class SessionTokens:
    """Issues and checks session JWTs; knows nothing about the database."""

    def __init__(self, secret: str, ttl_s: int) -> None:
        self._secret = secret
        self.ttl_s = ttl_s

    def issue(self, user_id: int, now: datetime | None = None) -> IssuedSession:
        now = now or datetime.now(UTC)
        expires_at = now + timedelta(seconds=self.ttl_s)
        session_id = secrets.token_urlsafe(24)
        csrf_token = secrets.token_urlsafe(32)
        claims = {
            "sub": str(user_id),
            "jti": session_id,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
            "csrf": csrf_digest(csrf_token),
        }
        token = jwt.encode(claims, self._secret, algorithm=ALGORITHM)
        return IssuedSession(token, session_id, csrf_token, expires_at)

    def decode(self, token: str) -> SessionClaims:
        """Verify signature, algorithm and expiry; any failure is one AuthenticationError."""
        if not token or len(token) > _MAX_TOKEN_CHARS or not token.isascii():
            raise AuthenticationError(_INVALID)
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "iat", "jti", "sub"]},
            )
            user_id = int(claims["sub"])
            session_id = claims["jti"]
            digest = claims.get("csrf", "")
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            raise AuthenticationError(_INVALID) from None
        if not isinstance(session_id, str) or not isinstance(digest, str):
            raise AuthenticationError(_INVALID)
        return SessionClaims(user_id, session_id, digest)

    @staticmethod
    def csrf_matches(claims: SessionClaims, csrf_token: str) -> bool:
        return hmac.compare_digest(claims.csrf_digest.encode(), csrf_digest(csrf_token).encode())
