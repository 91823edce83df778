"""What every HTTP surface shares: JSON encoding, SSE framing, request ids, and OpenAI-shaped error
responses (werkzeug's HTTP exceptions and unexpected exceptions included).

No request handling here: gateway/api/ reads bodies and writes responses with these helpers.
"""
from __future__ import annotations

import json
import logging
import re
from typing import Any

from quart import Response, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound as HTTPNotFound, RequestEntityTooLarge

from .errors import GatewayError, InternalError, NotFound, PayloadTooLarge
from .ids import hex24

log = logging.getLogger("open_router.app")  # the name operators filter on for request errors

JSON = "application/json"
BODY_TIMEOUT = 60  # seconds a client has to send its request body (then 408)
DRAIN_TIMEOUT = 5.0  # seconds spent taking in the rest of a body before answering an error
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,127}")
SSE_DONE = b"data: [DONE]\n\n"

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON, as every response body is written."""
    return _ENCODER.encode(obj).encode()


# An embeddings answer with more float values than this is encoded off the event loop (`dumps_embeddings`):
# the C encoder holds the GIL for its whole run, ~1 s for OpenAI's largest answer (2,048 × 3,072 floats).
LARGE_EMBEDDINGS = 100_000
_SPLICE = "\x00open-router-data\x00"  # never in a real answer: JSON escapes NUL, and it is our placeholder


def embedding_values(response: Any) -> int:
    """How many float values an OpenAI embeddings answer carries (base64 entries count as none)."""
    data = response.get("data") if isinstance(response, dict) else None
    if not isinstance(data, list):
        return 0
    return sum(len(e["embedding"]) for e in data if isinstance(e, dict) and isinstance(e.get("embedding"), list))


async def dumps_embeddings(response: dict, batch: int = 64) -> bytes:
    """`dumps(response)`, byte for byte, with its ``data`` entries encoded in worker threads ``batch`` at a
    time: between batches the loop gets the GIL back, so other requests (and /healthz) keep being served."""
    import asyncio

    data = response["data"]
    head = dumps({**response, "data": _SPLICE})
    token = dumps(_SPLICE)
    parts = [await asyncio.to_thread(lambda chunk=data[i:i + batch]: b",".join(map(dumps, chunk)))
             for i in range(0, len(data), batch)]
    return head.replace(token, b"[" + b",".join(p for p in parts if p) + b"]", 1)


def sse_event(obj: Any) -> bytes:
    return b"data: " + dumps(obj) + b"\n\n"


def json_response(obj: Any, status: int = 200) -> Response:
    return Response(dumps(obj), status=status, content_type=JSON)


def new_request_id(incoming: str | None) -> str:
    """A sane incoming x-request-id, or a new id."""
    return incoming if incoming and REQUEST_ID_RE.fullmatch(incoming) else "req_" + hex24()


def request_id() -> str:
    """The Quart request's id (set once per request)."""
    rid = g.get("request_id")
    if rid is None:
        rid = g.request_id = new_request_id(request.headers.get("x-request-id"))
    return rid


def error_headers(err: GatewayError) -> list[tuple[str, str]]:
    """What an error response carries besides its JSON content type and length."""
    h: list[tuple[str, str]] = []
    if err.status == 413:
        # The rest of the body is never read, so the connection cannot carry another request: say so,
        # or a client reusing it would see a dropped connection instead of an answer.
        h.append(("connection", "close"))
    h.extend(err.headers().items())
    return h


def error_response(err: GatewayError) -> Response:
    resp = Response(dumps(err.body()), status=err.status, content_type=JSON)
    for k, v in error_headers(err):
        resp.headers[k] = v
    return resp


def http_error(exc: HTTPException, method: str, path: str, max_body: int) -> GatewayError:
    """The OpenAI-shaped error for a werkzeug HTTP exception (unknown URL, wrong method, 413, 408, ...)."""
    if isinstance(exc, HTTPNotFound):
        return NotFound(f"Unknown request URL: {method} {path}. Please check the URL and method.",
                        code="unknown_url")
    if isinstance(exc, MethodNotAllowed):
        allowed = ", ".join(sorted(exc.valid_methods or ()))
        return GatewayError(f"Method {method} is not allowed for {path} (allowed: {allowed}).", status=405,
                            type="invalid_request_error", code="method_not_allowed")
    if isinstance(exc, RequestEntityTooLarge):
        return PayloadTooLarge.over(max_body)
    status = exc.code or 500
    return GatewayError(exc.description or exc.name, status=status,
                        type="invalid_request_error" if status < 500 else "server_error",
                        code=exc.name.lower().replace(" ", "_"))


def internal_error(exc: BaseException, method: str, path: str, rid: str) -> InternalError:
    """Log an unexpected exception with its traceback; the opaque 500 to answer with."""
    log.error("unhandled error in %s %s (request %s)", method, path, rid, exc_info=exc, extra={"request_id": rid})
    return InternalError(f"The gateway hit an internal error; quote request id {rid} when reporting it.")


async def read_body(max_bytes: int) -> bytes:
    """The raw body of the Quart request, 413 when it is larger than ``max_bytes`` (Content-Length first,
    then counted)."""
    length = request.content_length
    if length is not None and length > max_bytes:
        raise PayloadTooLarge.over(max_bytes, length)
    try:
        return await request.get_data(cache=False)  # Quart counts chunked bodies against MAX_CONTENT_LENGTH
    except RequestEntityTooLarge:
        raise PayloadTooLarge.over(max_bytes) from None


__all__ = [
    "BODY_TIMEOUT", "DRAIN_TIMEOUT", "JSON", "LARGE_EMBEDDINGS", "SSE_DONE", "dumps", "dumps_embeddings",
    "embedding_values", "error_headers", "error_response",
    "http_error", "internal_error", "json_response", "new_request_id", "read_body", "request_id", "sse_event",
]
