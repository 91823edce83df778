"""Shared test settings: hypothesis profiles (bounded for CI, heavier on demand)."""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile("dev", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("heavy", max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


# --------------------------------------------------------------------------- PostgreSQL and Redis
# Both run on 127.0.0.1 on every developer and CI machine. In CI (CI=true) a missing service fails the
# tests that need it; elsewhere they skip with the reason.

import secrets  # noqa: E402
import socket  # noqa: E402
from typing import Iterator  # noqa: E402

import pytest  # noqa: E402

PG_ADMIN_URL = os.environ.get("OPEN_ROUTER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("OPEN_ROUTER_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _service_missing(what: str, why: str) -> None:
    message = f"{what} is not reachable ({why})"
    if os.environ.get("CI"):
        pytest.fail(message + ": CI must run it (see .ci/run)", pytrace=False)
    pytest.skip(message)


def _reachable(host: str, port: int) -> str | None:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError as exc:
        return str(exc)
    return None


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (created, then dropped)."""
    why = _reachable("127.0.0.1", 5432)
    if why:
        _service_missing("PostgreSQL at 127.0.0.1:5432", why)
    import sqlalchemy as sa

    from gateway.db import engine_url

    name = "or_test_" + secrets.token_hex(6)
    admin = sa.create_engine(engine_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def redis_url() -> str:
    """The shared Redis (tests use their own key prefixes)."""
    why = _reachable("127.0.0.1", 6379)
    if why:
        _service_missing("Redis at 127.0.0.1:6379", why)
    return REDIS_URL
