"""Logging: one line per finished request, as text or JSON (``log_format``).

``request_line`` is a request-log observer: it writes what an operator needs about a
finished request (ids, model, backend, bands, wait, run time, tokens, status) and
nothing a user wrote or read: the row holds no prompt, no answer and no credential.
``logging_config`` sets up Seadragon's loggers and uvicorn's with the same format.
"""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime
from typing import Any

import orjson

from seadragon.config import Settings

log = logging.getLogger("seadragon.requests")

#: Row fields the line carries, in order, under these names.
_LINE_FIELDS = (
    ("request_id", "request_id"),
    ("user_id", "user_id"),
    ("key_id", "key_id"),
    ("route", "route"),
    ("model", "model"),
    ("backend", "backend"),
    ("entry_band", "entry_band"),
    ("dispatch_band", "dispatch_band"),
    ("status", "status"),
    ("http_status", "http_status"),
    ("error_kind", "error"),
    ("stream", "stream"),
    ("wait_ms", "wait_ms"),
    ("run_ms", "run_ms"),
    ("prompt_tokens", "prompt_tokens"),
    ("completion_tokens", "completion_tokens"),
)


def request_fields(row: dict[str, Any]) -> dict[str, Any]:
    fields = {name: row.get(key) for key, name in _LINE_FIELDS}
    started, first = row.get("started_at"), row.get("first_token_at")
    if started is not None and first is not None:
        fields["ttft_ms"] = max(0, round((first - started).total_seconds() * 1000))
    return fields


def request_line(row: dict[str, Any]) -> None:
    """Log one finished request (an observer of the request log)."""
    if log.isEnabledFor(logging.INFO):
        log.info("request finished", extra={"fields": request_fields(row)})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            data.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            data["error"] = record.exc_info[0].__name__  # the kind, never a traceback
        return orjson.dumps(data, default=str).decode()


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value ...``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line += "".join(f" {k}={v}" for k, v in fields.items() if v is not None)
        return line


def formatter_for(settings: Settings) -> logging.Formatter:
    return JsonFormatter() if settings.log_format == "json" else TextFormatter()


def logging_config(settings: Settings) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for ``seadragon serve``/``worker`` (and uvicorn)."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    factory = "seadragon.logs." + (
        "JsonFormatter" if settings.log_format == "json" else "TextFormatter"
    )
    config["formatters"]["seadragon"] = {"()": factory}
    if settings.log_format == "json":
        config["formatters"]["default"] = {"()": factory}
        config["formatters"]["access"] = {"()": factory}
    config["handlers"]["seadragon"] = {
        "formatter": "seadragon",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    level = settings.log_level.upper()
    config["loggers"]["seadragon"] = {"handlers": ["seadragon"], "level": level, "propagate": False}
    # Libraries' warnings (aio-pika, SQLAlchemy, ...) in the same format.
    config["root"] = {"handlers": ["seadragon"], "level": "WARNING"}
    return config
