"""Task and complexity recognition: the seam between a request body and the policy's ``task`` and
``complexity`` facts.

``classify(body)`` is pure (no I/O, no model, no clock, no randomness) and is what both `open-router
decide` and the gateway call, so the two never disagree on a request. Hand-written features, chosen by
measurement on tests/data/classify_eval.jsonl (bench/bench_classify.py); the labelling guide is
tests/data/CLASSIFY_GUIDE.md and the word lists are dsl/classify_lexicon.py.

Task (code, math, creative, summarization, translation, extraction, chat): each task scores the cues
(words, word stems, phrases; eight languages) found in the *instruction* — the last user turn's first
600 and last 300 characters, so a pasted document or code file is read for its shape, not its words —
plus, at lower weight, the system prompt's head and the previous user turn when the last one is a short
follow-up. Shapes add to that: code-shaped text (fences, braces, semicolons, keywords at line starts) to
``code``, arithmetic (``12 * 7``, ``x^2``, ``=``) to ``math``, a JSON ``response_format`` to
``extraction``. The operation verbs (translate, summarise, extract) weigh most, so the operation beats the
material (the guide's first rule). The best score wins when it reaches ``_MIN_SCORE``; otherwise ``chat``.

Complexity (a 0..1 score; low < 0.35 <= medium < 0.65 <= high) measures what the answer will need: the
instruction's length (log-scaled), the whole conversation's length, reasoning cues (prove, design,
trade-off, step by step, ...), explicit constraints (must, without, at least, ...), multi-step structure
(numbered or bulleted lines, "then", "finally"), the amount of code, and a small prior by task (proofs
and code run harder than greetings).

Cost: bounded whatever the prompt's size — cue search reads at most ~900 characters of instruction; shape
counts (str.count, C speed) read at most the first 12,000 and last 4,000 characters.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

from .classify_lexicon import (CJK_BY_CHAR, COMPLEXITY_CUES, CONSTRAINT_CUES, PHRASES_BY_WORD, STEMS, STEP_CUES,
                               SUFFIXES, WORDS)

__all__ = ["COMPLEXITIES", "Classification", "TASK_ALIASES", "TASKS", "TASK_HEADER", "UNKNOWN", "classify",
           "complexity_label", "normalise_task"]

TASKS = ("code", "math", "creative", "summarization", "translation", "extraction", "chat")
COMPLEXITIES = ("low", "medium", "high")
TASK_HEADER = "x-open-router-task"  # a client's own answer: overrides the classifier
# Names the policy language and the header accept for a task, beside the canonical ones.
TASK_ALIASES = {
    "coding": "code", "programming": "code", "maths": "math", "mathematics": "math", "summary": "summarization",
    "summarize": "summarization", "summarise": "summarization", "summarisation": "summarization",
    "translate": "translation", "extract": "extraction", "writing": "creative", "conversation": "chat",
}


@dataclass(frozen=True, slots=True)
class Classification:
    """What the classifier made of a request: the task type (a policy's ``task``), the complexity label
    (a policy's ``complexity``) and its 0..1 ``score``, the task's ``confidence`` (0..1: the winning
    score's margin over the runner-up), and the evidence (short phrases a reviewer can read)."""

    task: str | None = None
    complexity: str | None = None
    score: float | None = None
    evidence: tuple[str, ...] = ()
    confidence: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {"task": self.task, "complexity": self.complexity,
                "score": None if self.score is None else round(self.score, 3),
                "confidence": None if self.confidence is None else round(self.confidence, 3),
                "evidence": list(self.evidence)}


UNKNOWN = Classification()

_MIN_SCORE = 2.5  # a task needs this much evidence to beat `chat`
_HEAD, _TAIL = 600, 300  # the instruction: the last user turn's head and tail
_MATERIAL_WEIGHT = 0.3  # cues inside pasted / quoted material count this much (the operation beats the material)
_SHAPE_HEAD, _SHAPE_TAIL = 12_000, 4_000
_WORD = re.compile(r"[^\W\d_][\w+#;'/\-]*")
_ARITH = re.compile(
    r"\d\s*[+*×÷^]\s*[\d(a-z]|\d\s*=\s*-?\d|\d\s+[-/]\s+\d|\b\d*[a-z]\s*[\^²³]|\d+(?:[.,]\d+)?\s*%\s*(?:of|de|von|от|do|da)\b|"
    r"\\frac|√|∫|∑|\b\d*[a-z]\s*[+-]\s*\d*[a-z]?\s*=\s*-?\d|\b[a-z]\([a-z]\)\s*=|\d\s*/\s*\d+\s*(?:[+-]|加|减|乘)")
_NUMBER = re.compile(r"(?<![\w.,/:-])\d+(?:[.,]\d+)?(?![\w/:-])")
_CODE_LINE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import|function |const |let |var |public |private |#include|"
    r"return\b|if \(|for \(|while \(|SELECT |INSERT |UPDATE |CREATE |fn |func |package |using |\}|\{|@\w+\(|"
    r"<\w+[ >]|//|# )",
    re.M)
_CJK_MIN = "\u2e80"
_ASCII_WORD = re.compile(r"[a-z][a-z0-9+#]*")
_PERCENT = re.compile(r"\d\s*(?:%|percent|prozent|por ciento|pour cent|процент|パーセント)")
_COLON = re.compile(r"[:：]\s")  # "Translate this: <text>" — the instruction ends at the colon


def normalise_task(name: str | None) -> str | None:
    """A task name from a header or a policy, canonical (aliases resolved), or None if it is none."""
    if not name:
        return None
    low = name.strip().lower()
    if low in TASKS:
        return low
    return TASK_ALIASES.get(low)


def complexity_label(score: float) -> str:
    return "low" if score < 0.35 else "medium" if score < 0.65 else "high"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


def _split(text: str) -> tuple[str, str]:
    """(instruction, material) of a user turn, both lower-cased and bounded. The instruction is what says
    what to do: a short turn whole; otherwise its opening paragraph (up to a colon that introduces pasted
    text) and its closing paragraph when that is short. The material is what sits between them (a pasted
    document, code, a log, a quote), of which only the head and tail are kept (_HEAD, _TAIL)."""
    n = len(text)
    if n <= 160 and "\n" not in text:
        return text.lower(), ""
    first = text.find("\n\n", 0, _HEAD + 2)
    head_end = first if first > 0 else text.find("\n", 0, _HEAD + 2)
    if head_end <= 0:
        head_end = min(n, _HEAD)
    head = text[:head_end]
    colon = _COLON.search(head, 0, 300)
    if colon and colon.start() >= 6 and (n - colon.end() >= 120 or "\n" in text[colon.end():]):
        head_end = colon.end()
        head = text[:colon.start()]
    last = text.rfind("\n\n")
    tail = ""
    tail_start = n
    if last > head_end:
        cand = text[last + 2:]
        if len(cand) <= _TAIL and cand.count("\n") <= 2 and "```" not in cand:
            tail, tail_start = cand, last
    elif head_end < n - 1 and n - head_end > 400:
        end = text.rfind("\n", n - _TAIL)  # "…pasted text\ntl;dr?"
        if end > head_end and n - end < 200:
            tail, tail_start = text[end + 1:], end
    body = text[head_end:tail_start]
    material = body if len(body) <= _HEAD + _TAIL else body[:_HEAD // 2] + "\n" + body[-_TAIL // 2:]
    instruction = head if not tail else head + "\n\n" + tail
    return instruction.lower(), material.lower()


def _cues(region: str, weight: float, found: dict[str, list[float]], hits: dict[str, list[str]]) -> None:
    """Notes the cues of ``region`` (lower-case) in ``found`` (weights per task) and ``hits`` (the words).
    Cues where the imperative usually is — the first 100 characters, the last 150 of a long region —
    count half again. Words are looked up whole, then by their beginning (STEMS: morphology), then by
    their ending (SUFFIXES: German compounds, "Gutenachtgeschichte"); Latin-script phrases are found
    from their first word, Chinese and Japanese phrases by substring."""
    words, stems, suffixes, first = WORDS, STEMS, SUFFIXES, PHRASES_BY_WORD
    n = len(region)
    tail_from = n - 150 if n > 400 else n

    def boost(pos: int) -> float:
        return weight * 1.5 if pos < 100 or pos >= tail_from else weight

    def note(cues: tuple[tuple[str, float], ...], pos: int, word: str) -> None:
        w = boost(pos)
        for task, cw in cues:
            found[task].append(cw * w)
            hits[task].append(word)

    for m in _WORD.finditer(region):
        raw = m.group()
        pos = m.start()
        tok = raw.strip("'-;/")
        phrases = first.get(tok)
        if phrases is not None:
            for phrase, cues in phrases:
                if region.startswith(phrase, pos):
                    note(cues, pos, phrase)
        cues = words.get(tok)
        if cues is None and len(tok) > 4:
            for k in (9, 8, 7, 6, 5):
                cues = stems.get(tok[:k])
                if cues is not None:
                    break
            if cues is None and len(tok) >= 9:
                for k in (11, 10, 9, 8, 7, 6, 5):
                    cues = suffixes.get(tok[-k:])
                    if cues is not None:
                        break
        if cues is None and "-" in tok:  # git-branch, python-paket: the parts
            parts = [words.get(p) for p in tok.split("-")]
            cues = tuple(c for cs in parts if cs for c in cs) or None
        if cues is not None:
            note(cues, pos, tok)
    if region.isascii() or max(region) < _CJK_MIN:
        return
    for m in _ASCII_WORD.finditer(region):  # Latin words inside Chinese or Japanese text: "用Python怎么..."
        cues = words.get(m.group())
        if cues is not None and (m.start() == 0 or not region[m.start() - 1].isascii()):
            note(cues, m.start(), m.group())
    by_char = CJK_BY_CHAR
    for ch in set(region).intersection(by_char):
        for phrase, cues, negatives in by_char[ch]:
            pos = region.find(phrase)
            if pos >= 0 and not any(neg in region for neg in negatives):
                note(cues, pos, phrase)


def _saturate(weights: list[float]) -> float:
    """The strongest cue counts in full, the others at 30 %: a heap of topical words (python, api, json)
    does not outweigh one direct request (a story, a translation)."""
    if not weights:
        return 0.0
    top = max(weights)
    return top + 0.3 * (sum(weights) - top)


def _code_lines(text: str) -> int:
    """How many lines look like code (keywords at line starts, lone braces, lines ending in ; or {)."""
    if "\n" not in text:
        return 0
    n = len(_CODE_LINE.findall(text))
    n += text.count(";\n") + text.count("{\n") + text.count("):\n") + text.count("    return ")
    return n


def classify(body: Mapping[str, Any]) -> Classification:
    """The Classification of an OpenAI chat request body; never raises on odd input (UNKNOWN instead)."""
    try:
        return _classify(body)
    except Exception:  # a prompt of any shape must not break the request; the caller counts UNKNOWN
        return UNKNOWN


def _classify(body: Mapping[str, Any]) -> Classification:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return UNKNOWN
    system = ""
    users: list[str] = []
    total_chars = 0
    turns = 0
    for m in messages:
        if not isinstance(m, dict):
            continue
        text = _text(m.get("content"))
        total_chars += len(text)
        role = m.get("role")
        if role == "user":
            users.append(text)
            turns += 1
        elif role in ("system", "developer") and not system:
            system = text
        elif role == "assistant":
            turns += 1
    if not users:
        return UNKNOWN
    last = users[-1]
    found: dict[str, list[float]] = {t: [] for t in TASKS}
    hits: dict[str, list[str]] = {t: [] for t in TASKS}
    evidence: list[str] = []

    region, material = _split(last)
    _cues(region, 1.0, found, hits)
    if material:
        _cues(material, _MATERIAL_WEIGHT, found, hits)
    if system:
        _cues(system[:400].lower(), 0.4, found, hits)
    scores = {t: _saturate(w) for t, w in found.items()}
    if max(scores.values()) < _MIN_SCORE and len(users) > 1 and len(region) < 200:
        _cues(_split(users[-2])[0], 0.6, found, hits)  # "and this one?": the previous ask carries on
        scores = {t: _saturate(w) for t, w in found.items()}
        evidence.append("follow-up: read the previous user turn")

    # Shapes over the body of the turn (bounded).
    shape = last if len(last) <= _SHAPE_HEAD + _SHAPE_TAIL else last[:_SHAPE_HEAD] + "\n" + last[-_SHAPE_TAIL:]
    fences = shape.count("```")
    code_lines = _code_lines(shape)
    if fences >= 2 or code_lines >= 2:
        bonus = min(3.0, 1.0 + 0.25 * code_lines + (1.0 if fences >= 2 else 0.0))
        scores["code"] += bonus
        evidence.append(f"code-shaped text ({code_lines} code lines, {fences // 2} fenced blocks)")
    # Arithmetic counts in the instruction and in a short pasted formula, not in a pasted log or table.
    arith = len(_ARITH.findall(region)) + (len(_ARITH.findall(material)) if len(material) < 200 else 0)
    if arith:
        scores["math"] += min(4.0, 2.0 + 0.75 * arith)
        evidence.append(f"arithmetic in the instruction ({arith})")
    if len(region) < 250 and not arith and _PERCENT.search(region):
        scores["math"] += 2.0
        evidence.append("a percentage in a short instruction")
    numbers = len(_NUMBER.findall(region)) if len(region) < 400 and not material else 0
    if numbers >= 2:
        scores["math"] += min(2.5, 0.75 + 0.5 * (numbers - 2))
        evidence.append(f"{numbers} numbers in a short instruction")
    rf = body.get("response_format")
    if isinstance(rf, dict) and rf.get("type") in ("json_schema", "json_object"):
        scores["extraction"] += 2.0
        evidence.append(f"response_format {rf.get('type')}")
    if body.get("tools"):
        scores["chat"] += 0.5
        evidence.append("tools offered")

    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    (task, top), (_, second) = ranked[0], ranked[1]
    if top < _MIN_SCORE or task == "chat":
        task = "chat"
        confidence = 0.6 if top < _MIN_SCORE else min(1.0, (top - second) / top)
        evidence.insert(0, "no task's cues reached the threshold: chat" if top < _MIN_SCORE else "chat cues")
    else:
        confidence = min(1.0, (top - max(second, 0.0)) / top)
        words = ", ".join(list(dict.fromkeys(hits[task]))[:5])
        evidence.insert(0, f"{task} {top:.1f} (cues: {words or 'shape only'}) over {ranked[1][0]} {second:.1f}")

    score = _complexity(task, last, region, total_chars, turns, code_lines, evidence)
    return Classification(task, complexity_label(score), score, tuple(evidence), round(confidence, 3))


def _complexity(task: str, last: str, region: str, total_chars: int, turns: int, code_lines: int,
                evidence: list[str]) -> float:
    tokens = len(last) / 4
    length = min(1.0, max(0.0, (math.log10(tokens + 1) - 0.8) / 2.6))  # 6 tokens → 0, ~2,500 → 1
    convo = min(1.0, max(0.0, (math.log10(total_chars / 4 + 1) - 2.5) / 1.5)) if turns > 2 else 0.0
    reasoning = sum(1 for c in COMPLEXITY_CUES if c in region)
    constraints = sum(1 for c in CONSTRAINT_CUES if c in region)
    steps = sum(region.count(c) for c in STEP_CUES)
    prior = {"math": 0.12, "code": 0.1, "chat": -0.05, "translation": -0.05}.get(task, 0.0)
    score = (0.38 * length + 0.1 * convo + 0.11 * min(reasoning, 4) + 0.05 * min(constraints, 4)
             + 0.04 * min(steps, 5) + 0.02 * min(code_lines, 10) + prior)
    # Scaled so the bands fall where the guide's labels do (the raw sum sits mostly under 0.4).
    score = min(1.0, max(0.0, 0.05 + 2.2 * score))
    evidence.append(f"complexity {score:.2f}: ~{int(tokens)} tokens, {reasoning} reasoning cues, "
                    f"{constraints} constraints, {steps} step markers")
    return score
