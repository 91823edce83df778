"""Every error the gateway answers with, each knowing its HTTP status and its OpenAI error type/code.

    GatewayError                       root; .status, .type, .code, .param, .attempts; .body() is OpenAI's shape
     ├── InvalidRequest        400     invalid_request_error (param names the field)
     ├── AuthError             401     invalid_request_error / invalid_api_key
     ├── PermissionDenied      403     permission_error
     ├── NotFound              404     invalid_request_error / model_not_found (or not_found)
     ├── PayloadTooLarge       413     invalid_request_error / request_too_large
     ├── RateLimited           429     rate_limit_exceeded (retry_after seconds, when known)
     ├── BudgetExceeded        429     insufficient_quota / budget_exceeded (retry_after: to the period's reset)
     ├── BudgetStoreUnavailable 503    server_error / budget_store_unavailable (gateway/limits: fail closed)
     ├── UpstreamError         the provider failed; .retryable says whether another attempt may help
     │    ├── UpstreamTimeout  504     a connect or read timeout
     │    └── UpstreamConnect  502     the provider could not be reached / the connection broke
     ├── InternalError         500     a bug; the message never carries internals
     ├── KeyStoreError         400     (gateway/keys.py) a key operation that cannot be done;
     │    └── KeyStoreUnavailable 503  the key database is down or locked
     └── SettingsError         500     (gateway/settings.py) a setting that cannot be used; never reaches HTTP
"""
from __future__ import annotations

import math
from typing import Any

# Upstream statuses worth another attempt (the same target after backoff, then the next target).
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


class GatewayError(Exception):
    status: int = 500
    type: str = "server_error"
    code: str | None = None
    # The upstream calls made before this error (router.Attempt), set by the executor when it gives up
    # after at least one; the recording step (gateway/record.py) reads them from here.
    attempts: tuple[Any, ...] = ()

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 status: int | None = None, type: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def headers(self) -> dict[str, str]:
        return {}


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class AuthError(GatewayError):
    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class PermissionDenied(GatewayError):
    status = 403
    type = "permission_error"
    code = "permission_denied"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"

    @classmethod
    def over(cls, limit: int, length: int | None = None) -> PayloadTooLarge:
        """The 413 for a body over ``limit`` bytes; ``length`` when a Content-Length announced it."""
        size = "" if length is None else f" ({length} bytes)"
        return cls(f"The request body{size} is larger than the limit of {limit} bytes.")


class RateLimited(GatewayError):
    status = 429
    type = "rate_limit_exceeded"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any):
        super().__init__(message, **kw)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return retry_after_header(self.retry_after)


class BudgetExceeded(GatewayError):
    status = 429
    type = "insufficient_quota"
    code = "budget_exceeded"

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any):
        super().__init__(message, **kw)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return retry_after_header(self.retry_after)


class BudgetStoreUnavailable(GatewayError):
    """The budget and rate-limit store cannot be reached: a budgeted or limited request is refused (fail
    closed) rather than passed unbudgeted."""

    status = 503
    type = "server_error"
    code = "budget_store_unavailable"

    def headers(self) -> dict[str, str]:
        return retry_after_header(1)


def retry_after_header(seconds: float | None) -> dict[str, str]:
    """``{"retry-after": whole seconds, rounded up, at least 1}``, or nothing when ``seconds`` is None."""
    if seconds is None:
        return {}
    return {"retry-after": str(max(1, math.ceil(seconds)))}


class UpstreamError(GatewayError):
    """The provider answered with an error, or broke. ``upstream_status`` is what it sent (None if nothing).

    ``retryable``: another attempt on the same target may help. ``failover``: the error has a client-fault
    status (4xx) that must not stop the walk, because another target may accept the same request (an
    upstream 413: another model may have a larger context); it still reaches the client as it is when
    every target refuses. Gateway-side and retryable errors move on to the next target anyway.
    """

    status = 502
    type = "server_error"
    code = "upstream_error"

    def __init__(self, message: str, *, upstream_status: int | None = None, retryable: bool | None = None,
                 retry_after: float | None = None, provider: str | None = None, failover: bool = False,
                 **kw: Any):
        super().__init__(message, **kw)
        self.upstream_status = upstream_status
        self.retry_after = retry_after
        self.provider = provider
        self.failover = failover
        if retryable is None:
            retryable = upstream_status is None or upstream_status in RETRYABLE_STATUSES
        self.retryable = retryable

    def headers(self) -> dict[str, str]:
        # The upstream's Retry-After is worth passing on where the status means "come back later".
        if self.status in (429, 503):
            return retry_after_header(self.retry_after)
        return {}


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


class UpstreamConnect(UpstreamError):
    status = 502
    code = "upstream_unreachable"


class InternalError(GatewayError):
    status = 500
    type = "server_error"
    code = "internal_error"
