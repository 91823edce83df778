"""HealthBoard: EWMA arithmetic, counters, the circuit breaker's transitions, and what does not trip it."""
from __future__ import annotations

import pytest

from dsl.decision import Target
from gateway.errors import InvalidRequest, UpstreamConnect, UpstreamError, UpstreamTimeout
from gateway.health import CLOSED, HALF_OPEN, OPEN, HealthBoard, is_client_fault

A = Target("a", "p", "up-a")
A2 = Target("a-alias", "p", "up-a")  # same deployment, another policy name
B = Target("b", "q", "up-b")


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def board(**kw) -> tuple[HealthBoard, Clock]:
    clock = Clock()
    return HealthBoard(clock=clock, **kw), clock


def fail503() -> UpstreamError:
    return UpstreamError("unavailable", upstream_status=503, status=503, code="upstream_unavailable")


def test_latency_ewma_starts_at_first_sample_and_moves_by_alpha() -> None:
    hb, _ = board(latency_alpha=0.2)
    assert hb.latency(A) is None
    hb.success(A, 100.0)
    assert hb.latency(A) == 100.0
    hb.success(A, 200.0)
    assert hb.latency(A) == pytest.approx(120.0)
    hb.success(A, 20.0)
    assert hb.latency(A) == pytest.approx(100.0)


def test_failures_do_not_move_latency() -> None:
    hb, _ = board()
    hb.success(A, 50.0)
    hb.failure(A, UpstreamTimeout("slow"))
    assert hb.latency(A) == 50.0


def test_error_rate_ewma_and_counters() -> None:
    hb, _ = board(error_alpha=0.2)
    s = hb.status(A)
    assert s.error_rate == 0.0
    hb.failure(A, fail503())
    assert s.error_rate == pytest.approx(0.2)
    hb.failure(A, UpstreamConnect("reset"))
    assert s.error_rate == pytest.approx(0.36)
    hb.success(A, 10.0)
    assert s.error_rate == pytest.approx(0.288)
    assert (s.requests, s.failures, s.last_error) == (3, 2, "upstream_unreachable")


def test_breaker_opens_after_consecutive_failures_only() -> None:
    hb, _ = board(failure_threshold=3)
    for _ in range(2):
        hb.failure(A, fail503())
    hb.success(A, 5.0)  # resets the run
    for _ in range(2):
        hb.failure(A, fail503())
    assert hb.status(A).circuit() == CLOSED and hb.is_available(A)
    hb.failure(A, fail503())
    assert hb.status(A).circuit() == OPEN
    assert not hb.is_available(A)


def test_breaker_half_opens_after_cooldown_and_admits_one_probe() -> None:
    hb, clock = board(failure_threshold=2, cooldown=10.0)
    hb.failure(A, fail503())
    hb.failure(A, fail503())
    clock.t += 9.999
    assert not hb.is_available(A)
    clock.t += 0.001
    assert hb.is_available(A)
    assert hb.status(A).circuit() == HALF_OPEN
    probe = hb.start(A)
    assert probe.probe
    assert not hb.is_available(A)  # one probe at a time
    other = hb.start(A)  # a last-resort attempt may still go, but it is not the probe
    assert not other.probe
    other.release()
    assert not hb.is_available(A)
    probe.ok(12.0)
    assert hb.status(A).circuit() == CLOSED
    assert hb.is_available(A)
    assert hb.in_flight(A) == 0


def test_failed_probe_reopens_for_a_full_cooldown() -> None:
    hb, clock = board(failure_threshold=1, cooldown=10.0)
    hb.failure(A, fail503())
    clock.t += 10.0
    probe = hb.start(A)
    clock.t += 3.0
    probe.fail(fail503())
    s = hb.status(A)
    assert s.circuit() == OPEN and s.opened_at == clock.t
    clock.t += 9.0
    assert not hb.is_available(A)
    clock.t += 1.0
    assert hb.is_available(A)


def test_cancelled_probe_frees_the_slot_without_a_verdict() -> None:
    hb, clock = board(failure_threshold=1, cooldown=1.0)
    hb.failure(A, fail503())
    clock.t += 1.0
    probe = hb.start(A)
    assert not hb.is_available(A)
    probe.release()
    s = hb.status(A)
    assert s.circuit() == HALF_OPEN and hb.is_available(A)
    assert (s.requests, s.in_flight) == (1, 0)


def test_failure_on_open_breaker_restarts_cooldown() -> None:
    hb, clock = board(failure_threshold=1, cooldown=10.0)
    hb.failure(A, fail503())
    clock.t += 5.0
    hb.failure(A, fail503())  # a last-resort attempt while open
    clock.t += 6.0
    assert not hb.is_available(A)
    clock.t += 4.0
    assert hb.is_available(A)


@pytest.mark.parametrize("err", [
    UpstreamError("bad request", upstream_status=400, status=400, code="invalid_request"),
    UpstreamError("unknown model", upstream_status=404, status=404, code="not_found"),
    UpstreamError("unprocessable", upstream_status=422, status=400, code="invalid_request"),
    InvalidRequest("cannot express this for the provider"),
])
def test_client_errors_do_not_trip_the_breaker(err: Exception) -> None:
    hb, _ = board(failure_threshold=2)
    for _ in range(10):
        hb.failure(A, err)
    s = hb.status(A)
    assert is_client_fault(err)
    assert s.circuit() == CLOSED
    assert (s.error_rate, s.failures, s.client_errors, s.requests) == (0.0, 0, 10, 10)
    assert s.last_error == err.code


@pytest.mark.parametrize("err", [
    UpstreamError("slow down", upstream_status=429, status=429, code="rate_limit_exceeded"),
    UpstreamError("bad key", upstream_status=401, status=502, code="upstream_auth_failed", retryable=False),
    UpstreamTimeout("timed out"),
    RuntimeError("adapter bug"),
])
def test_upstream_side_failures_trip_it(err: Exception) -> None:
    hb, _ = board(failure_threshold=2)
    hb.failure(A, err)
    hb.failure(A, err)
    assert not is_client_fault(err)
    assert hb.status(A).circuit() == OPEN


def test_status_is_shared_per_deployment_and_snapshot_lists_it() -> None:
    hb, _ = board()
    hb.success(A, 10.0)
    hb.success(A2, 20.0)
    hb.failure(B, fail503())
    assert hb.status(A) is hb.status(A2)
    snap = hb.snapshot()
    assert [(r["provider"], r["upstream"]) for r in snap] == [("p", "up-a"), ("q", "up-b")]
    a = snap[0]
    assert a["model"] == "a" and a["aliases"] == ["a", "a-alias"]
    assert set(a) >= {"model", "provider", "upstream", "latency_ewma_ms", "error_rate", "in_flight", "circuit",
                      "requests", "failures", "last_error"}
    assert (a["latency_ewma_ms"], a["requests"], a["circuit"], a["last_error"]) == (12.0, 2, "closed", None)
    b = snap[1]
    assert (b["latency_ewma_ms"], b["failures"], b["last_error"]) == (None, 1, "upstream_unavailable")


def test_snapshot_reports_half_open_once_cooldown_passed() -> None:
    hb, clock = board(failure_threshold=1, cooldown=2.0)
    hb.failure(A, fail503())
    assert hb.snapshot()[0]["circuit"] == "open"
    clock.t += 2.0
    assert hb.snapshot()[0]["circuit"] == "half_open"


def test_ticket_counts_in_flight_and_ends_once() -> None:
    hb, _ = board()
    t1, t2 = hb.start(A), hb.start(A2)
    assert hb.in_flight(A) == 2
    t1.ok(5.0)
    t1.fail(fail503())  # ignored: already ended
    t1.release()
    assert hb.in_flight(A) == 1 and hb.status(A).requests == 1
    with pytest.raises(KeyError):
        with t2:
            raise KeyError("boom")
    assert hb.in_flight(A) == 0 and hb.status(A).requests == 1


def test_boards_share_nothing() -> None:
    hb1, _ = board()
    hb2, _ = board()
    hb1.failure(A, fail503())
    assert hb2.snapshot() == []
