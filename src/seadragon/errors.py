"""Seadragon's exception tree.

Nothing below ``seadragon.api`` raises HTTP exceptions; it raises these, and
``seadragon.api.errors`` maps each class to a status and the OpenAI error shape
``{"error": {"message", "type", "param", "code"}}``::

    SeadragonError
    ├── ConfigError                  start-up only: a bad setting, named
    ├── InvalidRequest         400   invalid_request_error (param names the field)
    │   ├── PayloadTooLarge    413
    │   └── UnsupportedMediaType 415 a body that is not of the type the route takes
    ├── AuthenticationError    401   missing, wrong, revoked or expired credentials
    ├── PermissionDenied       403   signed in, but not allowed
    ├── CsrfError              403   cookie-authenticated unsafe request without the token
    ├── NotFound               404
    │   └── ModelNotFound      404   code=model_not_found
    ├── Conflict               409
    ├── RateLimited            429   Retry-After from ``retry_after``
    │   └── QueueFull          429   a band is at its maximum depth
    ├── ServiceUnavailable     503
    │   ├── QueueUnavailable   503   the queue could not accept the request
    │   ├── QueueTimeout       503   waited longer than max_queue_wait_s
    │   ├── ModelUnavailable   503   every backend of a model served recently is down
    │   └── RequestCleared     503   an admin cleared the queue
    ├── RequestCancelled       499   cancelled by its owner, an admin, or a disconnect
    └── UpstreamError          502   the backend failed or answered with an error
        ├── BackendUnreachable 502   refused or reset before any answer: try another
        └── UpstreamTimeout    504
"""

from __future__ import annotations


class SeadragonError(Exception):
    """Base of every error Seadragon raises on purpose."""

    status = 500
    type = "server_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, object]:
        """The OpenAI error body."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class ConfigError(SeadragonError):
    """A setting is missing or malformed; start-up stops with this message."""


class InvalidRequest(SeadragonError):
    status = 400
    type = "invalid_request_error"


class PayloadTooLarge(InvalidRequest):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(InvalidRequest):
    status = 415
    code = "unsupported_media_type"


class AuthenticationError(SeadragonError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(SeadragonError):
    status = 403
    type = "permission_error"
    code = "forbidden"


class CsrfError(PermissionDenied):
    code = "csrf_failed"


class NotFound(SeadragonError):
    status = 404
    type = "not_found_error"
    code = "not_found"


class ModelNotFound(NotFound):
    type = "invalid_request_error"
    code = "model_not_found"


class Conflict(SeadragonError):
    status = 409
    type = "invalid_request_error"
    code = "conflict"


class RateLimited(SeadragonError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limited"


class QueueFull(RateLimited):
    code = "queue_full"


class ServiceUnavailable(SeadragonError):
    status = 503
    type = "server_error"
    code = "unavailable"


class QueueUnavailable(ServiceUnavailable):
    code = "queue_unavailable"


class QueueTimeout(ServiceUnavailable):
    code = "queue_timeout"


class ModelUnavailable(ServiceUnavailable):
    code = "model_unavailable"


class RequestCleared(ServiceUnavailable):
    code = "queue_cleared"


class RequestCancelled(SeadragonError):
    status = 499
    type = "request_cancelled"
    code = "cancelled"


class UpstreamError(SeadragonError):
    status = 502
    type = "server_error"
    code = "upstream_error"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


class BackendUnreachable(UpstreamError):
    """The connection failed before the backend answered anything: it is down, and the
    request is as good as never sent."""


class BackendBusy(UpstreamError):
    """The backend refused the request before any output because it has no room now
    (429, 503, "server busy"): the request keeps its place and is tried again."""


def error_from_dict(kind: str, message: str, param: str | None = None) -> SeadragonError:
    """Rebuild an error that crossed a process boundary by its class name."""
    cls = ERRORS_BY_NAME.get(kind, UpstreamError)
    return cls(message, param=param)


ERRORS_BY_NAME: dict[str, type[SeadragonError]] = {
    cls.__name__: cls
    for cls in (
        InvalidRequest,
        PayloadTooLarge,
        NotFound,
        ModelNotFound,
        RateLimited,
        QueueFull,
        ServiceUnavailable,
        QueueUnavailable,
        QueueTimeout,
        RequestCleared,
        RequestCancelled,
        UpstreamError,
        UpstreamTimeout,
        BackendUnreachable,
        BackendBusy,
    )
}
