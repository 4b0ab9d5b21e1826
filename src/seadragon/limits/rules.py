"""What a limit is, the errors that refuse a request, and the windows counts live in.

Windows are fixed UTC periods: the current minute for requests and tokens per minute,
the current day or month for a token budget. A refused request's ``Retry-After`` is the
time until its window ends (a concurrency limit frees when a running request ends, so
it says one second).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal

from seadragon.errors import PermissionDenied, RateLimited

Period = Literal["day", "month"]


@dataclass(frozen=True)
class Rule:
    """The limits of one subject; ``None`` is no limit."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    concurrent_requests: int | None = None
    allowed_models: tuple[str, ...] | None = None
    token_budget: int | None = None
    budget_period: Period = "day"

    @property
    def counts_tokens(self) -> bool:
        return self.tokens_per_minute is not None or self.token_budget is not None


@dataclass(frozen=True)
class Subject:
    """Who a rule is about: ``u:<user id>`` or ``k:<key id>``, and how to say so."""

    id: str
    label: str
    rule: Rule


class LimitExceeded(RateLimited):
    """Base of the 429s a limit gives; ``code`` names the limit."""

    code = "limit_exceeded"


class RequestsPerMinuteExceeded(LimitExceeded):
    code = "requests_per_minute"


class TokensPerMinuteExceeded(LimitExceeded):
    code = "tokens_per_minute"


class ConcurrentRequestsExceeded(LimitExceeded):
    code = "concurrent_requests"


class TokenBudgetExceeded(LimitExceeded):
    code = "token_budget"


class ModelNotAllowed(PermissionDenied):
    code = "model_not_allowed"


def minute_window(now: float) -> tuple[int, float]:
    """(start of the current minute in epoch seconds, seconds until it ends)."""
    start = int(now // 60 * 60)
    return start, start + 60 - now


def budget_window(now: float, period: Period) -> tuple[int, float]:
    """(start of the current UTC day or month in epoch seconds, seconds until the next)."""
    start, end = _period_bounds(int(now // 86400), period)
    return start, end - now


@lru_cache(maxsize=64)
def _period_bounds(day: int, period: Period) -> tuple[int, int]:
    """Start and end (epoch seconds) of the day or month holding UTC day number ``day``."""
    if period == "day":
        return day * 86400, (day + 1) * 86400
    start = datetime.fromtimestamp(day * 86400, UTC).replace(day=1)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return int(start.timestamp()), int(start.replace(year=year, month=month).timestamp())


def retry_after(seconds: float) -> float:
    return float(max(1, math.ceil(seconds)))


def check_model(subject: Subject, model: str) -> None:
    allowed = subject.rule.allowed_models
    if allowed is not None and model not in allowed:
        raise ModelNotAllowed(f"{subject.label} may not use the model {model!r}", param="model")


@dataclass(frozen=True)
class Usage:
    """A subject's counts in the current windows."""

    requests: int = 0
    tokens: int = 0
    budget: int = 0
    running: int = 0


def refuse_if_over(subject: Subject, usage: Usage, now: float) -> None:
    """Raise the first limit ``usage`` has reached (budget first: it lasts longest)."""
    rule, label = subject.rule, subject.label
    if rule.token_budget is not None and usage.budget >= rule.token_budget:
        _, wait = budget_window(now, rule.budget_period)
        raise TokenBudgetExceeded(
            f"{label} used its token budget of {rule.token_budget} this {rule.budget_period}",
            retry_after=retry_after(wait),
        )
    _, wait = minute_window(now)
    if rule.tokens_per_minute is not None and usage.tokens >= rule.tokens_per_minute:
        raise TokensPerMinuteExceeded(
            f"{label} used its {rule.tokens_per_minute} tokens this minute",
            retry_after=retry_after(wait),
        )
    if rule.requests_per_minute is not None and usage.requests >= rule.requests_per_minute:
        raise RequestsPerMinuteExceeded(
            f"{label} sent its {rule.requests_per_minute} requests this minute",
            retry_after=retry_after(wait),
        )
    if rule.concurrent_requests is not None and usage.running >= rule.concurrent_requests:
        raise ConcurrentRequestsExceeded(
            f"{label} has {usage.running} requests running or queued "
            f"(at most {rule.concurrent_requests})",
            retry_after=1.0,
        )
