"""Argon2id password hashing: parameters, verification, rehash detection."""

from __future__ import annotations

from argon2 import PasswordHasher, Type, extract_parameters

from seadragon.auth.passwords import (
    dummy_hash,
    hash_password,
    hash_password_async,
    needs_rehash,
    verify_password,
    verify_password_async,
)


def test_hash_is_argon2id_with_at_least_the_design_parameters() -> None:
    stored = hash_password("correct horse battery staple")
    params = extract_parameters(stored)
    assert stored.startswith("$argon2id$")
    assert params.type is Type.ID
    assert params.memory_cost >= 19456
    assert params.time_cost >= 2
    assert "correct horse" not in stored


def test_verify_accepts_the_password_and_refuses_anything_else() -> None:
    stored = hash_password("s3cret-password")
    assert verify_password(stored, "s3cret-password")
    assert not verify_password(stored, "s3cret-passwordX")
    assert not verify_password(stored, "")


def test_malformed_stored_hash_is_a_mismatch_not_an_error() -> None:
    assert not verify_password("not-a-hash", "anything")
    assert not verify_password("$argon2id$v=19$m=1,t=1,p=1$broken", "anything")
    assert needs_rehash("not-a-hash")


def test_same_password_hashes_differently_each_time() -> None:
    assert hash_password("same-password") != hash_password("same-password")


def test_weaker_old_hashes_need_rehash_current_ones_do_not() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("pw-pw-pw-pw")
    assert needs_rehash(weak)
    assert verify_password(weak, "pw-pw-pw-pw")  # still verifies, so login can upgrade it
    assert not needs_rehash(hash_password("pw-pw-pw-pw"))


def test_dummy_hash_is_a_real_hash_of_the_same_cost() -> None:
    assert extract_parameters(dummy_hash()) == extract_parameters(hash_password("x" * 12))
    assert not verify_password(dummy_hash(), "guess")


async def test_async_variants_run_off_the_event_loop() -> None:
    stored = await hash_password_async("async-password")
    assert await verify_password_async(stored, "async-password")
    assert not await verify_password_async(stored, "wrong-password")
