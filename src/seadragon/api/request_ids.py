"""Request ids a caller chose (``X-Request-Id``) are scoped to that caller.

The queue knows a chosen id as ``<scope>:<id>`` (scope: ``u<user id>``, or ``anon``), so
two users may pick the same id without colliding, and reusing someone else's id tells
nothing about it: it is answered exactly as an unknown id would be. Ids Seadragon makes
itself are random and left as they are. Only reusing one's own id while that request is
still queued or running is a 409.
"""

from __future__ import annotations

from seadragon.auth.caller import Caller


def _scope(caller: Caller) -> str:
    return "anon" if caller.user_id is None else f"u{caller.user_id}"


def queue_id(caller: Caller, request_id: str, *, chosen: bool) -> str:
    """The id the queue knows a request by."""
    return f"{_scope(caller)}:{request_id}" if chosen else request_id


def lookup_ids(caller: Caller, request_id: str) -> tuple[str, str]:
    """Ids to try for a caller's ``request_id``: their chosen one, then the id as given."""
    return f"{_scope(caller)}:{request_id}", request_id
