"""API key material: generation, the stored digest, and the shape check done before any lookup.

A key is ``sd-`` followed by 32 URL-safe characters from ``secrets`` (192 random bits).
Only its SHA-256 digest is stored; SHA-256 (not a slow hash) is right here because the
key is random, not a human-chosen password. The first four random characters and the
last four are kept for display (``sd-AbCd…wxyz``), which still leaves 144 unknown bits.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

KEY_PREFIX = "sd-"
RANDOM_BYTES = 24  # 192 bits; token_urlsafe encodes them as 32 characters
_SHOWN_CHARS = 4
_KEY_SHAPE = re.compile(r"sd-[A-Za-z0-9_-]{32}")


@dataclass(frozen=True)
class NewKey:
    """A freshly made key: ``plaintext`` is shown once and then forgotten."""

    plaintext: str
    digest: str
    prefix: str
    last4: str

    @property
    def display(self) -> str:
        return display_key(self.prefix, self.last4)


def generate_key() -> NewKey:
    random_part = secrets.token_urlsafe(RANDOM_BYTES)
    plaintext = KEY_PREFIX + random_part
    return NewKey(
        plaintext=plaintext,
        digest=digest_key(plaintext),
        prefix=KEY_PREFIX + random_part[:_SHOWN_CHARS],
        last4=plaintext[-_SHOWN_CHARS:],
    )


def digest_key(key: str) -> str:
    """SHA-256 hex digest: what the database stores and is searched by."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def looks_like_key(candidate: str) -> bool:
    """Cheap shape check, so junk (huge, binary, wrong prefix) never reaches the database."""
    return len(candidate) < 64 and _KEY_SHAPE.fullmatch(candidate) is not None


def digests_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def display_key(prefix: str, last4: str) -> str:
    return f"{prefix}…{last4}"
