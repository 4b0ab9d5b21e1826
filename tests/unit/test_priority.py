"""Band resolution: the caller's cap, lowered (never raised) by flex or the header."""

from __future__ import annotations

import pytest

from seadragon.auth.caller import Caller
from seadragon.auth.priority import resolve_band
from seadragon.errors import InvalidRequest

BANDS = ["high", "normal", "low"]


def caller(cap: str) -> Caller:
    return Caller(
        user_id=1, user_name="u", is_admin=False, auth_type="api_key", key_id=1, band_cap=cap
    )


@pytest.mark.parametrize("tier", [None, "auto", "default", "priority", "scale"])
def test_no_request_or_a_request_for_more_gets_the_cap(tier: str | None) -> None:
    assert resolve_band(caller("high"), BANDS, tier, None) == "high"
    assert resolve_band(caller("low"), BANDS, tier, None) == "low"


@pytest.mark.parametrize(
    ("cap", "expected"), [("high", "normal"), ("normal", "low"), ("low", "low")]
)
def test_flex_is_one_band_below_the_cap(cap: str, expected: str) -> None:
    assert resolve_band(caller(cap), BANDS, "flex", None) == expected


@pytest.mark.parametrize(
    ("cap", "header", "expected"),
    [
        ("high", "low", "low"),
        ("high", "normal", "normal"),
        ("high", "high", "high"),
        ("low", "high", "low"),  # clamped: never above the cap
        ("normal", "high", "normal"),
        ("normal", " LOW ", "low"),
        ("normal", "auto", "normal"),
        ("normal", "default", "normal"),
    ],
)
def test_header_names_a_band_clamped_to_the_cap(cap: str, header: str, expected: str) -> None:
    assert resolve_band(caller(cap), BANDS, None, header) == expected


def test_flex_and_header_together_take_the_lower() -> None:
    assert resolve_band(caller("high"), BANDS, "flex", "low") == "low"
    assert resolve_band(caller("high"), BANDS, "flex", "high") == "normal"


@pytest.mark.parametrize("header", ["urgent", "", "../high", "high; drop table"])
def test_unknown_header_value_is_an_invalid_request_naming_it(header: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        resolve_band(caller("high"), BANDS, None, header)
    assert info.value.param == "X-Seadragon-Priority"
    assert info.value.status == 400


def test_unknown_service_tier_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest) as info:
        resolve_band(caller("high"), BANDS, "turbo", None)
    assert info.value.param == "service_tier"


def test_a_cap_missing_from_the_configured_bands_gets_the_lowest() -> None:
    assert resolve_band(caller("gold"), BANDS, None, "high") == "low"


def test_works_with_any_band_list() -> None:
    assert resolve_band(caller("a"), ["a", "b"], "flex", None) == "b"
    assert resolve_band(caller("a"), ["a"], "flex", None) == "a"
