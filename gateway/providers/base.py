"""The adapter protocol every provider implements, the shared aiohttp plumbing (one pooled session per
adapter, per-attempt timeouts, error mapping). `gateway.providers.registry.make_adapter` picks the adapter
class by provider kind.

    adapter = make_adapter(provider, os.environ, limit=200)
    reply  = await adapter.chat(target, body, timeout=30)           # OpenAI ChatCompletion dict
    async for chunk in adapter.chat_stream(target, body, timeout=30):  # OpenAI chunk dicts
        ...
    vectors = await adapter.embed(target, body, timeout=30)          # OpenAI embeddings list dict
    await adapter.aclose()

Every failure is a `gateway.errors.UpstreamError` (or `InvalidRequest` for a request the provider's
format cannot express). `chat_stream` does its HTTP exchange on the first `__anext__`, so an error status
raises before any chunk is yielded and the executor can still fail over; a break after that raises
`UpstreamConnect` / `UpstreamTimeout` mid-iteration.
"""
from __future__ import annotations

import asyncio
import contextvars
from dataclasses import dataclass
from typing import Any, AsyncIterator, ClassVar, Mapping

import aiohttp

from dsl.ast import EnvRef, Provider
from dsl.decision import Target
from gateway.errors import UpstreamConnect, UpstreamError, UpstreamTimeout

from . import common

# Set to True by an HTTP adapter just before it hands a request to the network; the executor resets it to
# False before each attempt. An unexpected exception raised while it is still False came from translating
# the client's request (nothing reached the provider), so it is the request's fault, not the deployment's.
REQUEST_SENT: contextvars.ContextVar[bool] = contextvars.ContextVar("open_router_request_sent", default=False)


@dataclass(frozen=True)
class AdapterOptions:
    """Connection-pool and timeout settings shared by the HTTP adapters."""

    limit: int = 256  # connections in the pool, all hosts
    limit_per_host: int = 0  # 0: no per-host cap beyond `limit`
    keepalive_timeout: float = 30.0  # seconds an idle pooled connection is kept
    connect_timeout: float = 10.0  # cap on the connect phase (the attempt timeout also caps it)
    default_timeout: float = 60.0  # read timeout when neither the call nor the provider sets one
    ttl_dns_cache: int = 300
    trust_env: bool = False  # honour HTTP(S)_PROXY from the process environment


class Adapter:
    """One provider. Subclasses implement chat / chat_stream / embed for their wire format."""

    kind: ClassVar[str] = ""

    def __init__(self, provider: Provider, *, env: Mapping[str, str] | None = None,
                 options: AdapterOptions | None = None) -> None:
        self.provider = provider
        self.name = provider.name
        self.env: Mapping[str, str] = env if env is not None else {}
        self.options = options or AdapterOptions()

    async def chat(self, target: Target, body: dict, *, timeout: float | None = None) -> dict:
        raise NotImplementedError

    def chat_stream(self, target: Target, body: dict, *, timeout: float | None = None) -> AsyncIterator[dict]:
        raise NotImplementedError

    async def embed(self, target: Target, body: dict, *, timeout: float | None = None) -> dict:
        # A routing mistake on the gateway's side (502, not retryable): the executor moves to the next target.
        raise UpstreamError(f"provider {self.name!r} ({self.kind}) does not serve embeddings",
                            status=502, code="embeddings_unsupported", provider=self.name, retryable=False)

    async def aclose(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class HTTPAdapter(Adapter):
    """An adapter that talks HTTP to its provider through one pooled aiohttp session."""

    default_base_url: ClassVar[str | None] = None
    static_headers: ClassVar[dict[str, str]] = {}  # sent on every request (before provider headers)

    def __init__(self, provider: Provider, *, env: Mapping[str, str] | None = None,
                 options: AdapterOptions | None = None) -> None:
        super().__init__(provider, env=env, options=options)
        base = provider.base_url or self.default_base_url
        self.base_url = base.rstrip("/") if base else None
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._headers: dict[str, str] | None = None
        self._secrets: tuple[str, ...] = ()
        if provider.timeout is not None:
            self._default_timeout = float(provider.timeout.seconds)
        else:
            self._default_timeout = self.options.default_timeout
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    # ----------------------------------------------------------------- configuration

    def auth_headers(self, key: str) -> dict[str, str]:
        """The provider's authentication headers for ``key``."""
        return {"Authorization": f"Bearer {key}"}

    def _resolve(self, value: EnvRef | str, what: str) -> str:
        if isinstance(value, EnvRef):
            resolved = self.env.get(value.name)
            if not resolved:
                raise UpstreamError(
                    f"provider {self.name!r} needs {what} in the environment variable {value.name}, which is not set",
                    status=502, code="provider_key_missing", provider=self.name, retryable=False)
            return resolved
        return value

    def headers(self) -> dict[str, str]:
        """Request headers, built once (keys come from the environment at the first call)."""
        if self._headers is None:
            headers = {"Content-Type": "application/json", "Accept": "application/json", **self.static_headers}
            secret_values = []
            if self.provider.key is not None:
                key = self._resolve(self.provider.key, "its key")
                headers.update(self.auth_headers(key))
                secret_values.append(key)
            for name, value in self.provider.headers:
                resolved = self._resolve(value, f"header {name!r}")
                if isinstance(value, EnvRef):
                    secret_values.append(resolved)
                headers[name] = resolved
            self._secrets = tuple(secret_values)
            self._headers = headers
        return self._headers

    def require_base_url(self) -> str:
        if not self.base_url:
            raise UpstreamError(f"provider {self.name!r} ({self.kind}) has no base_url",
                                status=502, code="provider_misconfigured", provider=self.name, retryable=False)
        return self.base_url

    def client_timeout(self, timeout: float | None) -> aiohttp.ClientTimeout:
        seconds = float(timeout) if timeout is not None else self._default_timeout
        ct = self._timeouts.get(seconds)
        if ct is None:
            # No total: a long stream is fine as long as bytes keep coming (sock_read is per read).
            ct = aiohttp.ClientTimeout(total=None, connect=min(seconds, self.options.connect_timeout),
                                       sock_read=seconds)
            if len(self._timeouts) < 64:
                self._timeouts[seconds] = ct
        return ct

    def session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            opts = self.options
            connector = aiohttp.TCPConnector(limit=opts.limit, limit_per_host=opts.limit_per_host,
                                             keepalive_timeout=opts.keepalive_timeout,
                                             ttl_dns_cache=opts.ttl_dns_cache)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=opts.trust_env,
                                                  raise_for_status=False)
            self._session_loop = loop
        return self._session

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is None or session.closed:
            return
        if self._session_loop is not asyncio.get_running_loop():
            return  # made in a loop that is gone: its sockets went with it, nothing left to close here
        await session.close()

    # ----------------------------------------------------------------- transport

    def _transport_error(self, exc: BaseException, seconds: float | None) -> UpstreamError:
        # Timeouts first: aiohttp's timeout errors are also OSErrors / connection errors.
        if isinstance(exc, asyncio.TimeoutError):
            limit = seconds if seconds is not None else self._default_timeout
            phase = "connecting" if isinstance(exc, aiohttp.ConnectionTimeoutError) else "waiting for data"
            return UpstreamTimeout(f"provider {self.name!r} timed out {phase} (limit {limit:g}s)",
                                   provider=self.name)
        if isinstance(exc, aiohttp.ClientPayloadError):
            what = "the response broke off mid-way"
        elif isinstance(exc, aiohttp.ServerDisconnectedError):
            what = "the server closed the connection"
        elif isinstance(exc, aiohttp.ClientConnectorError):
            what = f"could not connect ({common.redact(str(exc.os_error), self._secrets)})"
        elif isinstance(exc, ConnectionResetError):
            what = "the connection was reset"
        else:
            what = f"{type(exc).__name__}: {common.redact(str(exc), self._secrets)}"
        return UpstreamConnect(f"provider {self.name!r}: {what}", provider=self.name)

    async def post_json(self, url: str, payload: Any, *, timeout: float | None) -> dict:
        """POST ``payload`` and return the decoded JSON answer, or raise the mapped UpstreamError."""
        headers = self.headers()
        data = common.dumps(payload)
        REQUEST_SENT.set(True)
        try:
            async with self.session().post(url, data=data, headers=headers,
                                           timeout=self.client_timeout(timeout)) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    raise common.status_error(self.name, resp.status, raw, resp.headers, self._secrets)
                status = resp.status
        except UpstreamError:
            raise
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            raise self._transport_error(exc, timeout) from None
        try:
            result = common.loads(raw)
        except ValueError:
            raise common.bad_payload(self.name, "invalid JSON", status) from None
        if not isinstance(result, dict):
            raise common.bad_payload(self.name, "not a JSON object", status)
        return result

    async def post_sse(self, url: str, payload: Any, *, timeout: float | None) -> AsyncIterator[tuple[str, str]]:
        """POST ``payload`` and yield the (event, data) pairs of the SSE answer.

        An error status raises before the first yield; a broken or stalled stream raises mid-way.
        """
        headers = self.headers()
        if headers.get("Accept") != "text/event-stream":
            headers = {**headers, "Accept": "text/event-stream"}
        data = common.dumps(payload)
        REQUEST_SENT.set(True)
        try:
            async with self.session().post(url, data=data, headers=headers,
                                           timeout=self.client_timeout(timeout)) as resp:
                if resp.status >= 400:
                    raw = await resp.read()
                    raise common.status_error(self.name, resp.status, raw, resp.headers, self._secrets)
                ctype = resp.headers.get("Content-Type", "")
                if "json" in ctype and "event-stream" not in ctype:
                    # Some OpenAI-compatible servers answer an error (or a whole reply) as plain JSON
                    # with status 200 even when asked to stream.
                    raw = await resp.read()
                    try:
                        obj = common.loads(raw)
                    except ValueError:
                        raise common.bad_payload(self.name, "invalid JSON", resp.status) from None
                    if isinstance(obj, dict) and "error" in obj:
                        raise common.status_error(self.name, 502, raw, resp.headers, self._secrets)
                    yield ("message", raw.decode())
                    return
                parser = common.SSEParser()
                async for block in resp.content.iter_any():
                    for event in parser.feed(block):
                        yield event
                for event in parser.close():
                    yield event
        except UpstreamError:
            raise
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            raise self._transport_error(exc, timeout) from None

    def stream_cut(self, what: str = "the stream ended early") -> UpstreamConnect:
        return UpstreamConnect(f"provider {self.name!r}: {what}", provider=self.name)

    def decode_event(self, data: str) -> Any:
        try:
            return common.loads(data)
        except ValueError:
            raise common.bad_payload(self.name, "invalid JSON in a stream event") from None
