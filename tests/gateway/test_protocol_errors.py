"""HTTP/1.1 requests Hypercorn refuses before the app sees them (gateway/protocol_errors.py): the status
Hypercorn picks, now with OpenAI's JSON error body, and the connection closed."""
from __future__ import annotations

import json
import socket

import pytest

from gateway.protocol_errors import error_body, install
from tests.gateway.conftest import GatewayServer
from tests.gateway.fakes import contract_validator


def exchange(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read until the server closes; (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        try:
            s.sendall(data)
        except OSError:
            pass  # the server may answer and close before taking everything
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = dict((k.lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:]))
    return status, headers, body


CASES = [
    ("huge-header", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n", 431,
     "request_header_fields_too_large"),
    ("negative-length", b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400,
     "bad_request"),
    ("bad-request-line", b"GARBAGE\r\n\r\n", 400, "bad_request"),
]


@pytest.mark.parametrize("name, data, status, code", CASES, ids=[c[0] for c in CASES])
def test_protocol_errors_have_openai_bodies(gateway: GatewayServer, name: str, data: bytes, status: int,
                                            code: str) -> None:
    got, headers, body = exchange(gateway.port, data)
    assert got == status
    assert headers["content-type"] == "application/json" and headers["connection"] == "close"
    assert int(headers["content-length"]) == len(body)
    payload = json.loads(body)
    contract_validator("ErrorResponse").validate(payload)
    assert payload["error"]["code"] == code and payload["error"]["param"] is None


def test_a_bad_chunk_size_mid_body_is_a_json_400(gateway: GatewayServer) -> None:
    """The app has seen the request line (the fast path took it) when the framing breaks; Hypercorn answers."""
    data = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Authorization: Bearer " + gateway.key.encode() + b"\r\n\r\nzz\r\n{}\r\n")
    status, headers, body = exchange(gateway.port, data)
    assert status == 400 and json.loads(body)["error"]["type"] == "invalid_request_error"


def test_install_is_idempotent_and_bodies_are_compact() -> None:
    assert install() and install()
    assert json.loads(error_body(431))["error"]["code"] == "request_header_fields_too_large"
    assert json.loads(error_body(599))["error"]["type"] == "server_error"
