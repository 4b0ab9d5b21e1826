"""Request ids a caller chose (``X-Request-Id``) are scoped to that caller.

The queue knows a chosen id as ``<scope>:<id>`` (scope: ``u<user id>``, or ``anon``), so
two users may pick the same id without colliding, and reusing someone else's id tells
nothing about it: it is answered exactly as an unknown id would be. Ids Seadragon makes
itself are random and left as they are. Everything a person reads (the request log, answer
ids, the queue API) shows the id without its scope; the queue API gives admins the scoped
one as ``queue_id`` to act on. Only reusing one's own id while that request is
still queued or running is a 409.
"""

from __future__ import annotations

import re

from seadragon.auth.caller import Caller

#: The scope ``queue_id`` puts in front of a chosen id (Seadragon's own ids never have it).
_SCOPE = re.compile(r"^(?:u\d+|anon):")


def _scope(caller: Caller) -> str:
    return "anon" if caller.user_id is None else f"u{caller.user_id}"


def queue_id(caller: Caller, request_id: str, *, chosen: bool) -> str:
    """The id the queue knows a request by."""
    return f"{_scope(caller)}:{request_id}" if chosen else request_id


def lookup_ids(caller: Caller, request_id: str) -> tuple[str, str]:
    """Ids to try for a caller's ``request_id``: their chosen one, then the id as given."""
    return f"{_scope(caller)}:{request_id}", request_id


def public_id(queue_id: str) -> str:
    """The id as its caller knows it: the request log, answers and the queue API show this."""
    return _SCOPE.sub("", queue_id, count=1)
