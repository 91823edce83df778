"""Quality bars: a model's declared score for a task (``quality code 0.86, default 0.7``) against a
``choose ... where quality >= 0.8`` filter. Pure; shared by the compiler (which lays out one plan per task
so that deciding stays a lookup), the checker and explain. The reference interpreter applies the bar on
its own, straight from the AST (dsl/reference.py), so the property test can catch the compiler out.

A model's score for a request is the one it declares for the request's task (task names canonical, aliases
resolved: dsl.classify.TASK_ALIASES), else its ``default`` score, else none: a model with no score fails
every bar, since a bar is a promise the policy makes to its users.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Callable, Iterable

from . import ast as A
from .classify import normalise_task

__all__ = ["QUALITY_OPS", "bar_value", "canonical_task", "quality_of", "quality_tasks", "verdict"]

QUALITY_OPS: dict[str, Callable[[Decimal, Decimal], bool]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def canonical_task(name: str) -> str:
    """A quality key as the request's task is spelled (``coding`` → ``code``); unknown names unchanged."""
    if name == A.QUALITY_DEFAULT:
        return name
    return normalise_task(name) or name


def quality_of(m: A.Model, task: str | None) -> Decimal | None:
    """``m``'s score for ``task`` (aliases in the policy resolved), else its default, else None."""
    found: Decimal | None = None
    for name, score in m.quality:
        key = canonical_task(name)
        if task is not None and key == task:
            return score
        if key == A.QUALITY_DEFAULT:
            found = score
    return found


def bar_value(f: A.Filter) -> Decimal | None:
    try:
        return Decimal(f.value)
    except (InvalidOperation, ValueError):
        return None


def verdict(m: A.Model, bars: Iterable[A.Filter], task: str | None) -> str | None:
    """None when ``m`` passes every quality bar for ``task``, else why it does not (for the trace). The
    reason names the task only when the model scores it, so it reads the same for every task it does not."""
    own = task is not None and any(canonical_task(t) == task for t, _ in m.quality)
    score = quality_of(m, task)
    for f in bars:
        bar = bar_value(f)
        op = QUALITY_OPS.get(f.op or "")
        if score is None:
            return f"no quality score for this task and no default, fails quality {f.op} {f.value}"
        if bar is None or op is None or not op(score, bar):
            about = f"for task {task}" if own else "(its default)"
            return f"quality {format(score, 'f')} {about} fails quality {f.op} {f.value}"
    return None


def quality_tasks(models: Iterable[A.Model]) -> tuple[str, ...]:
    """Every task name some model scores (canonical), besides `default`: the tasks whose plans may differ."""
    from .classify import TASKS

    named = {canonical_task(t) for m in models for t, _ in m.quality} - {A.QUALITY_DEFAULT}
    return tuple(dict.fromkeys([*TASKS, *sorted(named)]))
