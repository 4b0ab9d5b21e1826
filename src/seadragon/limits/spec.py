"""The limits an admin may set, validated the same way for the API and the CLI."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

#: What a model name may look like (the gateway validates names the same way).
MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,254}$"


class LimitSpec(BaseModel):
    """Every figure optional (``null``: no limit); ranges keep counters in 64 bits."""

    model_config = ConfigDict(extra="forbid")

    requests_per_minute: int | None = Field(default=None, ge=1, le=1_000_000)
    tokens_per_minute: int | None = Field(default=None, ge=1, le=1_000_000_000)
    concurrent_requests: int | None = Field(default=None, ge=1, le=10_000)
    allowed_models: list[Annotated[str, Field(pattern=MODEL_NAME)]] | None = Field(
        default=None, max_length=1000
    )
    token_budget: int | None = Field(default=None, ge=1, le=10**15)
    budget_period: Literal["day", "month"] | None = None

    @field_validator("budget_period")
    @classmethod
    def _period_of_a_budget(cls, period: str | None, info: ValidationInfo) -> str | None:
        if period is not None and info.data.get("token_budget") is None:
            raise ValueError("budget_period needs a token_budget")
        return period

    @model_validator(mode="after")
    def _default_period(self) -> LimitSpec:
        if self.token_budget is not None and self.budget_period is None:
            self.budget_period = "day"
        return self

    def values(self) -> dict[str, Any]:
        return self.model_dump()
