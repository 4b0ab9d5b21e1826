"""A broker outage is one warning line and one recovery line, not a page of tracebacks.

``Connection`` logs both lines itself. aio-pika and aiormq log the same event several
times over: the broker's ``CONNECTION_FORCED`` as an error plus a reader traceback, each
robust channel's failed reopen as a callback error (``RuntimeError: ... closed``), and
every reconnect attempt. ``quiet_outages`` installs a filter that turns exactly those
records into DEBUG records (tracebacks included, for whoever debugs the client, and
dropped unless DEBUG is on for that logger); anything else the libraries log keeps
its level.
"""

from __future__ import annotations

import logging

#: (logger, message template prefix) of records that only restate an outage.
OUTAGE_RECORDS = {
    "aiormq.connection": (
        "Unexpected connection close from remote",
        "Cancelling cause reader exited abnormally",
        "error when creating transport",
    ),
    "aio_pika.robust_connection": (
        "Connection to %s closed. Reconnecting",
        'Connection attempt to "%s" failed',
        'Connection attempt to "%s" cancelled',
        "Reconnect attempt failed",
    ),
    "aio_pika.tools": ("Callback %r error",),
}
#: Callbacks whose failure during an outage is a channel that could not reopen yet.
_CLOSE_CALLBACKS = ("_on_close", "_on_connection_close")


class OutageFilter(logging.Filter):
    """Lowers the records of ``OUTAGE_RECORDS`` to DEBUG (kept only where DEBUG is on)."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self._logger = logger

    def filter(self, record: logging.LogRecord) -> bool:
        prefixes = OUTAGE_RECORDS.get(record.name, ())
        message = str(record.msg)
        if not any(message.startswith(prefix) for prefix in prefixes):
            return True
        if record.name == "aio_pika.tools" and not _is_close_callback(record):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return self._logger.isEnabledFor(logging.DEBUG)


def _is_close_callback(record: logging.LogRecord) -> bool:
    args = record.args if isinstance(record.args, tuple) else ()
    return bool(args) and any(name in repr(args[0]) for name in _CLOSE_CALLBACKS)


def quiet_outages() -> None:
    """Install the filter on the libraries' loggers (once per process)."""
    for name in OUTAGE_RECORDS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, OutageFilter) for f in logger.filters):
            logger.addFilter(OutageFilter(logger))
