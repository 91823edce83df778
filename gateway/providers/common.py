"""Pieces every adapter shares: ids, OpenAI response/chunk builders, SSE parsing, token estimates,
upstream-error mapping and redaction of secrets from messages.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import secrets
import struct
import time
from email.utils import parsedate_to_datetime
from typing import Any, Iterable, Mapping

from dsl.secrets import mask_secrets
from gateway.ids import hex24
from gateway.errors import InvalidRequest, RETRYABLE_STATUSES, UpstreamError

# Compact JSON: fewer bytes on the wire and no per-call encoder construction.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(obj: Any) -> bytes:
    return _ENCODER.encode(obj).encode()


def loads(data: bytes | str) -> Any:
    return json.loads(data)


# --------------------------------------------------------------------------- ids and timestamps


def completion_id(suffix: str | None = None) -> str:
    return "chatcmpl-" + (suffix or hex24())


def tool_call_id() -> str:
    return "call_" + secrets.token_hex(12)


def now() -> int:
    return int(time.time())


# --------------------------------------------------------------------------- OpenAI-shaped builders


def usage(prompt: int, completion: int, total: int | None = None) -> dict[str, int]:
    return {
        "prompt_tokens": int(prompt),
        "completion_tokens": int(completion),
        "total_tokens": int(total if total is not None else prompt + completion),
    }


def message(content: str | None, tool_calls: list[dict] | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls:
        msg["tool_calls"] = tool_calls
    return msg


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def choice(index: int, msg: dict[str, Any], finish_reason: str) -> dict[str, Any]:
    return {"index": index, "message": msg, "finish_reason": finish_reason, "logprobs": None}


def completion(cid: str, model: str, choices: list[dict], use: dict | None, created: int | None = None) -> dict:
    out: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion",
        "created": created if created is not None else now(),
        "model": model,
        "choices": choices,
    }
    if use is not None:
        out["usage"] = use
    return out


def chunk(cid: str, created: int, model: str, choices: list[dict], use: dict | None = None) -> dict:
    out: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": choices,
    }
    if use is not None:
        out["usage"] = use
    return out


def delta_choice(index: int, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {"index": index, "delta": delta, "finish_reason": finish_reason, "logprobs": None}


def wants_base64(body: Mapping[str, Any]) -> bool:
    """Did the client ask for embeddings as base64 (``encoding_format: "base64"``) rather than floats?"""
    return body.get("encoding_format") == "base64"


def encode_vector(vector: list[float]) -> str:
    """An embedding as OpenAI's base64 form: little-endian float32s, base64-encoded."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def decode_vector(data: str) -> list[float]:
    """The inverse of `encode_vector` (a malformed string raises ShapeError)."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ShapeError("an embedding is neither a list of numbers nor base64") from None
    if len(raw) % 4:
        raise ShapeError("a base64 embedding is not a whole number of float32s")
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def embedding_list(model: str, vectors: list[list[float]], prompt_tokens: int, *,
                   base64_out: bool = False) -> dict[str, Any]:
    """An OpenAI embeddings answer; ``base64_out`` (the client's ``encoding_format: "base64"``) encodes them."""
    return {
        "object": "list",
        "model": model,
        "data": [{"object": "embedding", "index": i, "embedding": encode_vector(v) if base64_out else v}
                 for i, v in enumerate(vectors)],
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def conform_embeddings(data: list[dict[str, Any]], body: Mapping[str, Any]) -> None:
    """Give each entry of an OpenAI-format answer the encoding the client asked for, in place: a compatible
    server may ignore ``encoding_format`` (floats back when base64 was asked) or default to base64."""
    b64 = wants_base64(body)
    for entry in data:
        value = entry.get("embedding")
        if b64 and isinstance(value, list):
            entry["embedding"] = encode_vector([float(v) for v in value])
        elif not b64 and isinstance(value, str):
            entry["embedding"] = decode_vector(value)


def wants_usage(body: Mapping[str, Any]) -> bool:
    """Did the client ask for a final usage chunk when streaming (``stream_options.include_usage``)?"""
    opts = body.get("stream_options")
    return bool(isinstance(opts, Mapping) and opts.get("include_usage"))


def max_tokens(body: Mapping[str, Any]) -> int | None:
    value = body.get("max_completion_tokens")
    if value is None:
        value = body.get("max_tokens")
    return None if value is None else int(value)


def stop_list(body: Mapping[str, Any]) -> list[str]:
    stop = body.get("stop")
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    return [s for s in stop if isinstance(s, str) and s]


# --------------------------------------------------------------------------- content helpers


def estimate_tokens(text: str) -> int:
    """A cheap token estimate (~4 characters a token), for providers that don't report usage and the mock."""
    return 0 if not text else max(1, math.ceil(len(text) / 4))


def append_turn(turns: list[dict[str, Any]], role: str, key: str, items: list[dict[str, Any]]) -> None:
    """Add a turn's ``items`` (blocks or parts) under ``key``, merged into the previous turn when it has the
    same role: Anthropic and Gemini both want roles to alternate. An empty turn is dropped (both reject it),
    which can make its neighbours merge."""
    if not items:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1][key].extend(items)
    else:
        turns.append({"role": role, key: list(items)})


def text_of(content: Any) -> str:
    """The text of an OpenAI message content: a string, or the text parts of a list joined."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, Mapping) and part.get("type") in ("text", "refusal"):
                out.append(str(part.get("text") or part.get("refusal") or ""))
        return "".join(out)
    return str(content)


def messages_text(messages: Iterable[Mapping[str, Any]]) -> str:
    parts = []
    for m in messages:
        parts.append(text_of(m.get("content")))
        for tc in m.get("tool_calls") or ():
            fn = tc.get("function") or {}
            parts.append(str(fn.get("name", "")) + str(fn.get("arguments", "")))
    return "\n".join(parts)


_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^,;]*)*?);base64,(?P<data>.*)$", re.S)


def parse_data_url(url: str) -> tuple[str, str] | None:
    """``data:image/png;base64,XXXX`` → ("image/png", "XXXX"); None when ``url`` is not a base64 data URL."""
    m = _DATA_URL.match(url)
    if m is None:
        return None
    data = m.group("data")
    try:
        # Validate cheaply on a prefix: a bad payload is the client's error, not a provider failure.
        base64.b64decode(data[:64] + "=" * (-len(data[:64]) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("image data URL is not valid base64", param="messages") from None
    return (m.group("mime") or "application/octet-stream", data)


def parse_arguments(arguments: Any) -> dict[str, Any]:
    """A tool call's JSON argument string → an object, as Anthropic and Gemini want.

    A model can emit arguments that are not JSON (or not an object); the client echoes them back in the
    history, and refusing the whole conversation for it would be worse than keeping the raw text.
    """
    if isinstance(arguments, Mapping):
        return dict(arguments)
    if not arguments:
        return {}
    try:
        value = json.loads(arguments)
    except (TypeError, ValueError):
        return {"_raw_arguments": str(arguments)}
    return value if isinstance(value, dict) else {"_raw_arguments": value}


def short_tool_ids(messages: Any, limit: int) -> Any:
    """``messages`` with every tool call id longer than ``limit`` replaced by a short stand-in derived from it
    (the same in an assistant's ``tool_calls`` and the ``tool`` message answering it), or ``messages``
    itself when there is none. Ids from other providers can be long — a Gemini call id carries its thought
    signature — and OpenAI refuses ids over 40 characters."""
    if not isinstance(messages, list):
        return messages

    def too_long(value: Any) -> bool:
        return isinstance(value, str) and len(value) > limit

    if not any(isinstance(m, Mapping) and (too_long(m.get("tool_call_id")) or any(
            isinstance(tc, Mapping) and too_long(tc.get("id")) for tc in m.get("tool_calls") or ()))
               for m in messages):
        return messages

    def short(value: Any) -> Any:
        if not too_long(value):
            return value
        return "call_" + hashlib.sha256(value.encode()).hexdigest()[: max(1, min(32, limit - 5))]

    out = []
    for m in messages:
        if isinstance(m, Mapping):
            m = dict(m)
            if "tool_call_id" in m:
                m["tool_call_id"] = short(m["tool_call_id"])
            if isinstance(m.get("tool_calls"), list):
                m["tool_calls"] = [{**tc, "id": short(tc.get("id"))} if isinstance(tc, Mapping) and "id" in tc
                                   else tc for tc in m["tool_calls"]]
        out.append(m)
    return out


# --------------------------------------------------------------------------- features a provider lacks


def unsupported(who: str, feature: str, param: str) -> InvalidRequest:
    """The 400 for a request using what a provider's API cannot express (``who``: "Anthropic models").
    It fails over: another target of the plan, on another provider, may take the same request."""
    err = InvalidRequest(f"{who} do not support {feature}; route this request to a model that does.",
                         param=param, code="unsupported_parameter")
    err.failover = True  # type: ignore[attr-defined]
    return err


def function_tools(body: Mapping[str, Any], who: str) -> tuple[list[Mapping[str, Any]], Any]:
    """The function definitions and the tool_choice, for a provider whose API has function tools only:
    ``allowed_tools`` becomes the listed functions with tool_choice "auto" or "required"; custom tools
    and legacy ``functions`` are a 400 (`unsupported`)."""
    if body.get("functions"):
        raise unsupported(who, "the legacy 'functions' parameter (use 'tools')", "functions")
    tools = body.get("tools") or ()
    for i, t in enumerate(tools):
        if t.get("type", "function") != "function":
            raise unsupported(who, f"tools of type {str(t.get('type'))[:40]!r}", f"tools[{i}].type")
    fns = [t.get("function") or {} for t in tools]
    choice = body.get("tool_choice")
    if isinstance(choice, Mapping):
        kind = choice.get("type")
        if kind == "allowed_tools":
            spec = choice.get("allowed_tools") or {}
            refs = spec.get("tools") or ()
            names = set()
            for i, ref in enumerate(refs):
                if not isinstance(ref, Mapping) or ref.get("type") != "function":
                    raise unsupported(who, "allowed tools that are not functions",
                                      f"tool_choice.allowed_tools.tools[{i}]")
                names.add((ref.get("function") or {}).get("name"))
            fns = [f for f in fns if f.get("name") in names]
            choice = "required" if spec.get("mode") == "required" else "auto"
        elif kind != "function":
            raise unsupported(who, f"tool_choice of type {str(kind)[:40]!r}", "tool_choice")
    return fns, choice


def function_calls(msg: Mapping[str, Any], index: int, who: str) -> list[Mapping[str, Any]]:
    """An assistant message's function tool calls (a custom tool call in the history is a 400)."""
    calls = msg.get("tool_calls") or []
    for k, tc in enumerate(calls):
        if isinstance(tc, Mapping) and tc.get("type", "function") != "function":
            raise unsupported(who, "custom tool calls", f"messages[{index}].tool_calls[{k}]")
    if msg.get("function_call") is not None:
        raise unsupported(who, "the legacy 'function_call' in messages (use 'tool_calls')",
                          f"messages[{index}].function_call")
    return calls


# --------------------------------------------------------------------------- SSE


class SSEParser:
    """Incremental Server-Sent Events parser (WHATWG rules): feed bytes, get (event, data) pairs.

    Written by hand rather than using line iteration on the aiohttp stream because that caps a line at
    the reader's buffer size, and one Gemini/OpenAI event can carry a large tool-call payload.
    """

    __slots__ = ("_buf", "_event", "_data")

    def __init__(self) -> None:
        self._buf = b""
        self._event = ""
        self._data: list[str] = []

    def feed(self, data: bytes) -> list[tuple[str, str]]:
        self._buf += data
        out: list[tuple[str, str]] = []
        while True:
            nl = self._buf.find(b"\n")
            cr = self._buf.find(b"\r")
            if nl < 0 and cr < 0:
                break
            if cr >= 0 and (nl < 0 or cr < nl):
                if cr == len(self._buf) - 1:
                    break  # a lone CR at the end may be the first half of CRLF: wait for more
                end, skip = cr, 2 if self._buf[cr + 1 : cr + 2] == b"\n" else 1
            else:
                end, skip = nl, 1
            line = self._buf[:end].decode("utf-8", "replace")
            self._buf = self._buf[end + skip :]
            self._line(line, out)
        return out

    def close(self) -> list[tuple[str, str]]:
        """End of stream: dispatch a final event that was not followed by a blank line."""
        out: list[tuple[str, str]] = []
        if self._buf:
            self._line(self._buf.decode("utf-8", "replace"), out)
            self._buf = b""
        self._line("", out)
        return out

    def _line(self, line: str, out: list[tuple[str, str]]) -> None:
        if not line:
            if self._data:
                out.append((self._event or "message", "\n".join(self._data)))
            self._event, self._data = "", []
            return
        if line[0] == ":":
            return
        field, _, value = line.partition(":")
        if value[:1] == " ":
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value


# --------------------------------------------------------------------------- errors




def redact(text: str, secret_values: Iterable[str] = ()) -> str:
    """Strip secrets from text that may reach a client or a log (dsl.secrets.mask_secrets): known secret
    values, key shapes, bearer tokens, ``key=`` parameters, URL credentials, and URL query strings."""
    return mask_secrets(text, secret_values, drop_queries=True)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` (OpenAI, more precise) or ``Retry-After`` (seconds or an HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def upstream_message(payload: Any, raw: bytes | str = b"") -> str:
    """The human message out of an error body in any of the wire formats (OpenAI, Anthropic, Gemini)."""
    if isinstance(payload, Mapping):
        err = payload.get("error")
        if isinstance(err, Mapping):
            msg = err.get("message")
            if msg:
                return str(msg)
        elif isinstance(err, str) and err:
            return err
        for key in ("message", "detail"):
            if payload.get(key):
                return str(payload[key])
    elif isinstance(payload, list) and payload:
        return upstream_message(payload[0], raw)  # Gemini sometimes wraps the error body in a list
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return text.strip()[:300]


# Anthropic answers 529 when overloaded: as retryable as a 503.
_RETRYABLE = RETRYABLE_STATUSES | {529}

# How each provider says "the key is bad" (its status varies: Gemini answers a bad key with a 400):
# OpenAI 401 code invalid_api_key; Azure 401 "Access denied due to invalid subscription key ..."; Anthropic
# 401 authentication_error / 403 permission_error; Gemini 400 INVALID_ARGUMENT with an ErrorInfo reason
# API_KEY_INVALID ("API key not valid. Please pass a valid API key."), 403 PERMISSION_DENIED ("Method
# doesn't allow unregistered callers", API_KEY_SERVICE_BLOCKED, ...).
_AUTH_CODES = frozenset({"invalid_api_key", "invalid_key", "unauthorized", "authenticationerror", "401", "403"})
_AUTH_TYPES = frozenset({"authentication_error", "permission_error", "invalid_api_key"})
_AUTH_STATUSES = frozenset({"unauthenticated", "permission_denied"})  # google.rpc codes, compared lower-case
_AUTH_REASON = re.compile(r"^(API_KEY_[A-Z_]+|ACCESS_TOKEN_[A-Z_]+|CREDENTIALS_MISSING|SERVICE_DISABLED)$")
_AUTH_MESSAGE = re.compile(r"api key not valid|invalid api key|incorrect api key|invalid x-api-key|"
                           r"invalid subscription key|unregistered callers|api key (?:is )?(?:missing|expired)",
                           re.I)


def credential_failure(status: int, payload: Any) -> str | None:
    """Is this upstream error the provider refusing the gateway's own credentials? The provider's reason
    (a short code such as ``API_KEY_INVALID`` or ``invalid_api_key``, never its message, which can echo
    the key) when it is, "" when only the status says so, None when it is something else."""
    err = payload.get("error") if isinstance(payload, Mapping) else None
    if isinstance(payload, list) and payload and isinstance(payload[0], Mapping):
        err = payload[0].get("error")  # Gemini sometimes wraps the error body in a list
    if not isinstance(err, Mapping):
        err = payload if isinstance(payload, Mapping) else {}
    for detail in err.get("details") or ():
        reason = detail.get("reason") if isinstance(detail, Mapping) else None
        if isinstance(reason, str) and _AUTH_REASON.match(reason):
            return reason
    for key, known in (("code", _AUTH_CODES), ("type", _AUTH_TYPES), ("status", _AUTH_STATUSES)):
        value = err.get(key)
        if isinstance(value, str) and value.lower() in known:
            return "" if value.isdigit() else value
    message = err.get("message")
    if isinstance(message, str) and _AUTH_MESSAGE.search(message):
        return ""
    return "" if status in (401, 403) else None


def status_error(
    provider: str,
    status: int,
    raw: bytes,
    headers: Mapping[str, str],
    secret_values: Iterable[str] = (),
) -> UpstreamError:
    """Map an upstream HTTP error status onto the UpstreamError the client should see."""
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        payload = None
    detail = redact(upstream_message(payload, raw), secret_values)[:1000]
    retry_after = parse_retry_after(headers)
    common: dict[str, Any] = {
        "upstream_status": status,
        "provider": provider,
        "retry_after": retry_after,
        "retryable": status in _RETRYABLE,
    }
    reason = credential_failure(status, payload)
    if reason is not None:
        # The upstream key is the gateway's, not the client's, whatever status the provider uses for it:
        # never ask the client to fix it, and don't relay the message (OpenAI echoes a masked key in it).
        # Not retryable on this target; the walk goes on to the next one (its provider may have a good key).
        common["retryable"] = False
        hint = f" ({reason})" if re.fullmatch(r"[A-Za-z_]{3,40}", reason) else ""
        return UpstreamError(
            f"provider {provider!r} rejected the gateway's credentials (upstream status {status}{hint}); "
            "the gateway operator must fix the provider key",
            status=502, code="upstream_auth_failed", **common)
    if status in (400, 422):
        return UpstreamError(detail or f"provider {provider!r} rejected the request",
                             status=400, type="invalid_request_error", code="invalid_request", **common)
    if status == 404:
        # The client asked the gateway for a model it serves; the upstream model or deployment behind it
        # is missing or retired. The gateway's configuration problem: a 502, and the walk moves on.
        return UpstreamError(f"provider {provider!r} does not have the configured model "
                             f"(upstream status 404): {detail or 'not found'}".rstrip(": "),
                             status=502, code="upstream_model_not_found", **common)
    if status == 413:
        # Too large for this model; another target (a bigger context) may take it, so the walk goes on,
        # and the client sees the 413 only when every target refused.
        return UpstreamError(detail or "request too large for the provider", failover=True,
                             status=413, type="invalid_request_error", code="request_too_large", **common)
    if status == 429:
        return UpstreamError(f"provider {provider!r} is rate limiting: {detail}".rstrip(": "),
                             status=429, type="rate_limit_exceeded", code="rate_limit_exceeded", **common)
    if status in (503, 529):
        return UpstreamError(f"provider {provider!r} is unavailable ({status}): {detail}".rstrip(": "),
                             status=503, code="upstream_unavailable", **common)
    return UpstreamError(f"provider {provider!r} failed with status {status}: {detail}".rstrip(": "),
                         status=502, code="upstream_error", **common)


class ShapeError(ValueError):
    """The upstream's JSON parsed but has the wrong shape (a string where an object belongs, ...).

    Raised by the translators (which know no provider name); the adapter turns it into `bad_payload`.
    """


def obj(value: Any, what: str) -> Mapping[str, Any]:
    """``value`` as an object; None (absent) is an empty one; anything else is a ShapeError."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ShapeError(f"{what} is a {type(value).__name__}, not an object")
    return value


def objs(value: Any, what: str) -> list[Mapping[str, Any]]:
    """``value`` as a list of objects; None (absent) is an empty list; anything else is a ShapeError."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ShapeError(f"{what} is a {type(value).__name__}, not a list")
    for item in value:
        if not isinstance(item, Mapping):
            raise ShapeError(f"{what} holds a {type(item).__name__} where an object belongs")
    return value


def string(value: Any, what: str) -> str:
    """``value`` as a string; None (absent) is empty; anything else is a ShapeError."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ShapeError(f"{what} is a {type(value).__name__}, not a string")
    return value


def count(value: Any) -> int:
    """A token count from an upstream usage block; anything that is not a number counts as 0 (usage is
    bookkeeping: a garbled figure is no reason to throw the answer away)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    return int(value)


def bad_payload(provider: str, what: str, upstream_status: int | None = 200) -> UpstreamError:
    """The upstream answered something that is not the JSON it should be: worth another attempt."""
    return UpstreamError(f"provider {provider!r} sent a malformed response ({what})",
                         upstream_status=upstream_status, provider=provider, retryable=True,
                         status=502, code="upstream_bad_response")
