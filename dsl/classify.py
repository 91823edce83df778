"""Task recognition: the seam between a request body and the policy's ``task`` fact.

``classify(body)`` is pure (no I/O, no model, no clock) and is what both `open-router decide` and the
gateway call, so the two can never disagree on a request's task. Recognising tasks is a later issue: today
``classify`` answers honestly that it does not know (task, complexity and score None, no evidence), and a
policy that tests ``task`` sees it missing unless the caller names the task itself (`decide --task`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

__all__ = ["Classification", "UNKNOWN", "classify"]


@dataclass(frozen=True, slots=True)
class Classification:
    """What the classifier made of a request: the task type (a policy's ``task``), a complexity label, a
    confidence score in 0..1, and the evidence (short phrases a reviewer can read) behind them."""

    task: str | None = None
    complexity: str | None = None
    score: float | None = None
    evidence: tuple[str, ...] = ()


UNKNOWN = Classification()


def classify(body: Mapping[str, Any]) -> Classification:
    """The Classification of an OpenAI chat request body. Recognises nothing yet: always `UNKNOWN`."""
    return UNKNOWN
