"""Authentication: API keys, web sessions, login and logout.

API keys are looked up by digest and cached in-process for ``key_cache_ttl_s``: that is
the documented revocation delay (a key revoked, or a user disabled, elsewhere stops
working within that time; revoking through this process takes effect at once). Expiry
is checked on every request, cached or not. ``last_used_at`` is written in the
background at most once a minute per key, never on the request path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from seadragon.auth.caller import Caller
from seadragon.auth.keys import digest_key, digests_equal, looks_like_key
from seadragon.auth.passwords import (
    dummy_hash,
    hash_password_async,
    needs_rehash,
    verify_password_async,
)
from seadragon.auth.sessions import IssuedSession, SessionTokens, load_secret
from seadragon.auth.throttle import LoginThrottle, ThrottleLimits
from seadragon.config import Settings
from seadragon.db import keys as key_repo
from seadragon.db import users as user_repo
from seadragon.db.engine import Database
from seadragon.db.tables import ApiKey, User
from seadragon.errors import AuthenticationError, CsrfError

log = logging.getLogger("seadragon.auth")

INVALID_KEY = "invalid API key"
INVALID_LOGIN = "invalid username or password"
_TOUCH_EVERY_S = 60.0
_MAX_CACHED_KEYS = 10_000


#: Reload a cached key in the background during the last fifth of its cache life.
_REFRESH_AHEAD = 0.2


@dataclass(frozen=True)
class _CachedKey:
    caller: Caller
    digest: str
    expires_at: datetime | None
    cached_until: float


@dataclass(frozen=True)
class LoginResult:
    user: User
    session: IssuedSession


class AuthService:
    """Turns credentials into a ``Caller``; one per gateway process, on ``app.state.auth``."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.database = database
        self._clock = clock
        self._tokens: SessionTokens | None = None
        if settings.secret_key:
            _ = self.tokens  # a configured secret that is too short stops start-up here
        self.throttle = LoginThrottle(
            ThrottleLimits(
                max_failures=settings.login_max_failures,
                window_s=settings.login_window_s,
                account_max_failures=settings.login_account_max_failures,
                account_window_s=settings.login_account_window_s,
                account_delay_s=settings.login_account_delay_s,
            )
        )
        self._keys: dict[str, _CachedKey] = {}
        self._touched: dict[int, float] = {}
        self._refreshing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def tokens(self) -> SessionTokens:
        # Made on first use, so CLI commands that never sign anyone in make no secret file.
        if self._tokens is None:
            self._tokens = SessionTokens(load_secret(self.settings), self.settings.session_ttl_s)
        return self._tokens

    # API keys ---------------------------------------------------------------------

    async def authenticate_key(self, presented: str) -> Caller:
        if not looks_like_key(presented):
            raise AuthenticationError(INVALID_KEY)
        digest = digest_key(presented)
        now = datetime.now(UTC)
        cached = self._keys.get(digest)
        mono = self._clock()
        if cached is None or cached.cached_until <= mono:
            cached = await self._load_key(digest)
        elif cached.cached_until - mono < self.settings.key_cache_ttl_s * _REFRESH_AHEAD:
            self._refresh_soon(digest)
        if not digests_equal(cached.digest, digest):
            raise AuthenticationError(INVALID_KEY)
        if cached.expires_at is not None and cached.expires_at <= now:
            self._keys.pop(digest, None)
            raise AuthenticationError("API key has expired")
        self._note_use(cached.caller)
        return cached.caller

    def _refresh_soon(self, digest: str) -> None:
        """Reload a key about to leave the cache off the request path (at most one at a time).

        A revoked key is dropped by the reload, so the revocation delay stays at most
        ``key_cache_ttl_s``; requests meanwhile keep the cached answer instead of waiting
        for the database.
        """
        if digest in self._refreshing:
            return
        self._refreshing.add(digest)

        async def refresh() -> None:
            try:
                await self._load_key(digest)
            except AuthenticationError:
                pass  # _load_key already dropped it; the next request gets the 401
            except Exception as exc:  # the cached entry stays until it expires
                log.warning("could not refresh a cached API key: %s", type(exc).__name__)
            finally:
                self._refreshing.discard(digest)

        task = asyncio.create_task(refresh())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _load_key(self, digest: str) -> _CachedKey:
        async with self.database.session() as session:
            found = await key_repo.find_key_by_digest(session, digest)
        key, user = found if found is not None else (None, None)
        if key is None or user is None or key.revoked_at is not None or user.disabled:
            self._keys.pop(digest, None)
        if key is None or user is None:
            raise AuthenticationError(INVALID_KEY)
        if key.revoked_at is not None:
            raise AuthenticationError("API key has been revoked")
        if user.disabled:
            raise AuthenticationError("this account is disabled")
        caller = Caller(
            user_id=user.id,
            user_name=user.name,
            is_admin=user.is_admin,
            auth_type="api_key",
            key_id=key.id,
            band_cap=key.band,
        )
        entry = _CachedKey(
            caller, key.hash, key.expires_at, self._clock() + self.settings.key_cache_ttl_s
        )
        if self.settings.key_cache_ttl_s > 0:
            if len(self._keys) >= _MAX_CACHED_KEYS:
                self._keys.clear()
            self._keys[digest] = entry
        return entry

    def forget_key(self, key: ApiKey) -> None:
        """Drop a revoked key from this process's cache at once."""
        self._keys.pop(key.hash, None)

    def forget_user(self, user_id: int) -> None:
        """Drop every cached key of a user (disabled, demoted or deleted)."""
        for digest, entry in list(self._keys.items()):
            if entry.caller.user_id == user_id:
                del self._keys[digest]

    def _note_use(self, caller: Caller) -> None:
        assert caller.key_id is not None
        mono = self._clock()
        last = self._touched.get(caller.key_id)
        if last is not None and mono - last < _TOUCH_EVERY_S:
            return
        self._touched[caller.key_id] = mono
        task = asyncio.create_task(self._touch(caller.key_id, datetime.now(UTC)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _touch(self, key_id: int, at: datetime) -> None:
        try:
            async with self.database.session() as session:
                await key_repo.mark_used(session, key_id, at)
                await session.commit()
        except Exception as exc:  # bookkeeping only: never let it disturb a request
            log.warning("could not record API key use: %s", type(exc).__name__)

    async def close(self) -> None:
        """Wait for pending ``last_used_at`` writes (call before closing the database)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # Sessions -----------------------------------------------------------------------

    async def authenticate_session(self, token: str) -> Caller:
        claims = self.tokens.decode(token)
        async with self.database.session() as session:
            found = await user_repo.get_login_session(session, claims.session_id)
        if found is None:
            raise AuthenticationError("invalid or expired session")
        row, user = found
        if row.user_id != claims.user_id or row.expires_at <= datetime.now(UTC):
            raise AuthenticationError("invalid or expired session")
        if user.disabled:
            raise AuthenticationError("this account is disabled")
        return Caller(
            user_id=user.id,
            user_name=user.name,
            is_admin=user.is_admin,
            auth_type="session",
            key_id=None,
            band_cap=self.settings.web_band,
        )

    def check_csrf(self, token: str, csrf_token: str) -> None:
        """The submitted CSRF token must be the one issued with this session."""
        if not self.tokens.csrf_matches(self.tokens.decode(token), csrf_token):
            raise CsrfError("CSRF token does not belong to this session")

    def anonymous(self) -> Caller:
        if not self.settings.allow_anonymous:
            raise AuthenticationError(
                "missing credentials: send an API key as 'Authorization: Bearer <key>'"
            )
        return Caller(
            user_id=None,
            user_name=None,
            is_admin=False,
            auth_type="anonymous",
            key_id=None,
            band_cap=self.settings.bands[-1],
        )

    async def login(self, username: str, password: str, client: str) -> LoginResult:
        """Sign in; unknown user and wrong password fail alike, and failures are throttled.

        The attempt is counted before the password is checked (see ``auth.throttle``):
        a failure leaves it counted, a success clears it.
        """
        async with self.database.session() as session:
            attempt = await self.throttle.begin(session, username, client)
            user = await user_repo.find_user(session, username) if username else None
            if user is None:
                await verify_password_async(dummy_hash(), password)
                raise AuthenticationError(INVALID_LOGIN, code="invalid_credentials")
            ok = await verify_password_async(user.password_hash, password)
            if not ok or user.disabled:
                raise AuthenticationError(INVALID_LOGIN, code="invalid_credentials")
            await self.throttle.succeeded(session, attempt)
            if needs_rehash(user.password_hash):
                user.password_hash = await hash_password_async(password)
            now = datetime.now(UTC)
            issued = self.tokens.issue(user.id, now)
            await user_repo.purge_expired_sessions(session, now)
            await user_repo.add_login_session(
                session, issued.session_id, user.id, issued.expires_at
            )
            await session.commit()
        return LoginResult(user, issued)

    async def logout(self, token: str) -> None:
        """End the session a token names; an invalid token is already signed out."""
        try:
            claims = self.tokens.decode(token)
        except AuthenticationError:
            return
        async with self.database.session() as session:
            await user_repo.end_login_session(session, claims.session_id)
            await session.commit()
