"""API key material: entropy, prefix, stored digest, display, shape checks."""

from __future__ import annotations

import hashlib
import math

import pytest

from seadragon.auth.keys import (
    KEY_PREFIX,
    RANDOM_BYTES,
    digest_key,
    digests_equal,
    display_key,
    generate_key,
    looks_like_key,
)


def test_key_has_prefix_and_at_least_128_random_bits() -> None:
    new = generate_key()
    assert new.plaintext.startswith("sd-")
    assert RANDOM_BYTES * 8 >= 128
    random_part = new.plaintext[len(KEY_PREFIX) :]
    # URL-safe base64: 6 bits per character.
    assert len(random_part) * 6 >= 128
    assert set(random_part) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )


def test_keys_are_unique_and_spread_over_the_alphabet() -> None:
    keys = [generate_key().plaintext for _ in range(2000)]
    assert len(set(keys)) == len(keys)
    chars = "".join(k[len(KEY_PREFIX) :] for k in keys)
    counts = [chars.count(c) for c in set(chars)]
    entropy = -sum(n / len(chars) * math.log2(n / len(chars)) for n in counts)
    assert entropy > 5.9  # close to the 6 bits of a uniform 64-symbol alphabet


def test_only_the_sha256_digest_is_kept() -> None:
    new = generate_key()
    assert new.digest == hashlib.sha256(new.plaintext.encode()).hexdigest()
    assert new.digest == digest_key(new.plaintext)
    assert len(new.digest) == 64
    assert new.plaintext not in new.digest


def test_display_is_prefix_and_last_four_only() -> None:
    new = generate_key()
    assert new.display == display_key(new.prefix, new.last4)
    assert new.display.startswith("sd-") and "…" in new.display
    assert new.display.endswith(new.plaintext[-4:])
    assert new.last4 == new.plaintext[-4:]
    shown = len(new.prefix) - len(KEY_PREFIX) + len(new.last4)
    assert (len(new.plaintext) - len(KEY_PREFIX) - shown) * 6 >= 128  # hidden bits


def test_a_real_key_has_the_expected_shape() -> None:
    assert looks_like_key(generate_key().plaintext)


@pytest.mark.parametrize(
    "candidate",
    [
        "",
        "sd-",
        "sk-" + "a" * 32,  # wrong prefix
        "SD-" + "a" * 32,
        "sd-" + "a" * 31,
        "sd-" + "a" * 33,
        "sd-" + "a" * 10_000,  # 10 KB
        "sd-" + "a" * 31 + "\x00",  # NUL
        "sd-" + "ä" * 32,  # unicode
        "sd-" + "' OR '1'='1' --" + "a" * 17,  # SQL metacharacters
        "sd-" + "abc+/=" * 5 + "ab",  # standard, not URL-safe, base64
        "sd-" + "a" * 31 + "=",  # padding
        " sd-" + "a" * 32,
    ],
)
def test_malformed_candidates_are_refused_before_any_lookup(candidate: str) -> None:
    assert not looks_like_key(candidate)


def test_digest_comparison() -> None:
    a, b = generate_key(), generate_key()
    assert digests_equal(a.digest, digest_key(a.plaintext))
    assert not digests_equal(a.digest, b.digest)
