"""Task and complexity recognition: the seam between a request body and the policy's ``task`` and
``complexity`` facts.

``classify(body)`` is pure (no I/O, no model, no clock, no randomness) and is what both `open-router
decide` and the gateway call, so the two never disagree on a request. Hand-written features, chosen by
measurement on tests/data/classify_eval.jsonl (bench/bench_classify.py); the labelling guide is
tests/data/CLASSIFY_GUIDE.md and the word lists are dsl/classify_lexicon.py.

Task (code, math, creative, summarization, translation, extraction, chat): the last user turn is split
into the *instruction* (its opening paragraph up to a colon that introduces pasted text, and a short
closing paragraph) and the *material* between them (a document, code, a log, a quote). Each task scores
the cues (words, word beginnings, German compound endings, phrases; eight languages, one word-list module
per language family) found in the instruction at full weight, in the material at 0.3 — the operation
beats the material (the guide's first rule) — and, lower, in the system prompt's head and in the previous
user turn when the last ask is a short follow-up. Shapes add to that: code-shaped text and stack traces to
``code`` (halved when an operation such as translate is asked on it), arithmetic in the instruction
(``12 * 7``, ``18 times 23``, ``x^2``, ``3x - 7 = 11``) to ``math``, a named target language ("in formal
German") to ``translation``, a JSON ``response_format`` to ``extraction``. The best score wins when it
reaches ``_MIN_SCORE``; otherwise ``chat``.

Complexity (a 0..1 score; low < 0.35 <= medium < 0.65 <= high) measures what the answer will need, as a
weighted sum of 0..1 features (``complexity_features``): the ask's length, the pasted material's length,
a long conversation, reasoning cues, a proof asked for, explicit constraints, step markers, clauses of the
ask, the amount of code and the task. The weights (``_CX_W``) were fitted to the guide-labelled sets with
``bench/bench_classify.py --fit-complexity``.

Cost: bounded whatever the prompt's size — cues are read from at most ~900 characters of instruction and
~900 of material (word lookups cached); shape counts read at most the first 12,000 and last 4,000
characters.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
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
_WORD_ARITH = re.compile(  # "18 times 23", "7 mal 8", "3/4 plus 2/3"
    r"\d\s+(?:times|plus|minus|divided by|multiplied by|mal|durch|fois|veces|vezes|menos|moins|más|mais|"
    r"умножить на|разделить на|плюс|минус)\s+\d")
_TRACE = re.compile(  # a stack trace or a compiler error: code is being debugged
    r"Traceback \(most recent call last\)|^\s+at [\w.$<>]+\(|Exception in thread|^panic: |Segmentation fault|"
    r"error\[E\d+\]|^\w+(?:Error|Exception): ", re.M)
_LANGS = ("english|french|german|spanish|italian|portuguese|japanese|chinese|mandarin|korean|russian|arabic|"
          "dutch|swedish|polish|turkish|greek|hindi|vietnamese|ukrainian")
_TO_LANGUAGE = re.compile(  # "in formal German", "into Brazilian Portuguese"
    r"\b(?:in|into|to)\s+(?:formal|informal|polite|casual|brazilian|european|mexican|latin american|modern|"
    r"business|simplified|traditional|standard|proper|natural|idiomatic|british|american)\s+(?:" + _LANGS + r")\b")
_MATHY = re.compile(r"[\d√∫∑\\]")  # the arithmetic shapes need one of these
_QUOTES = frozenset("'\"«“„「『‘")
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
    if colon and colon.start() >= 6 and (n - colon.end() >= 300 or "\n" in text[colon.end():]
                                         or text[colon.end():colon.end() + 1] in _QUOTES):
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


@lru_cache(maxsize=32768)
def _lookup(tok: str) -> tuple[tuple[str, float], ...] | None:
    """The cues of one word: whole (WORDS), by its beginning (STEMS: morphology), by its parts
    ("python-klasse"), by its ending (SUFFIXES: German compounds). Cached: the answer depends on the word
    only, so the cache changes the speed, never the result."""
    cues = WORDS.get(tok)
    if cues is None and len(tok) > 4:
        for k in (9, 8, 7, 6, 5):
            cues = STEMS.get(tok[:k])
            if cues is not None:
                return cues
    if cues is None and "-" in tok:
        parts = [WORDS.get(p) for p in tok.split("-")]
        cues = tuple(c for cs in parts if cs for c in cs) or None
    if cues is None and len(tok) >= 9:
        for k in (11, 10, 9, 8, 7, 6, 5):
            cues = SUFFIXES.get(tok[-k:])
            if cues is not None:
                return cues
    return cues


def _cues(region: str, weight: float, found: dict[str, list[float]], hits: dict[str, list[str]]) -> None:
    """Notes the cues of ``region`` (lower-case) in ``found`` (weights per task) and ``hits`` (the words).
    Cues where the imperative usually is — the first 100 characters, the last 150 of a long region —
    count half again. Words are looked up whole, then by their beginning (STEMS: morphology), then by
    their ending (SUFFIXES: German compounds, "Gutenachtgeschichte"); Latin-script phrases are found
    from their first word, Chinese and Japanese phrases by substring."""
    words, first = WORDS, PHRASES_BY_WORD
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
                end = pos + len(phrase)
                if region.startswith(phrase, pos) and (end >= n or not region[end].isalnum()
                                                       or not phrase[-1].isalnum()):
                    note(cues, pos, phrase)
        cues = _lookup(tok)
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
    n += text.count(";\n") + text.count("{\n") + text.count("):\n") + text.count("    return ") + text.count(":\n    ")
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
        if max(scores["translation"], scores["summarization"], scores["extraction"]) >= 5.0:
            bonus /= 2  # an operation asked on pasted code: the operation beats the material
        scores["code"] += bonus
        evidence.append(f"code-shaped text ({code_lines} code lines, {fences // 2} fenced blocks)")
    # Arithmetic counts in the instruction and in a short pasted formula, not in a pasted log or table.
    mathy = _MATHY.search(region) is not None
    arith = (len(_ARITH.findall(region)) + len(_WORD_ARITH.findall(region)) if mathy else 0) + \
        (len(_ARITH.findall(material)) if material and len(material) < 200 and _MATHY.search(material) else 0)
    if arith:
        scores["math"] += min(4.0, 2.0 + 0.75 * arith)
        evidence.append(f"arithmetic in the instruction ({arith})")
    if mathy and len(region) < 250 and not arith and _PERCENT.search(region):
        scores["math"] += 2.0
        evidence.append("a percentage in a short instruction")
    numbers = len(_NUMBER.findall(region)) if mathy and len(region) < 400 and not material else 0
    if numbers:
        scores["math"] += min(2.5, 0.5 if numbers == 1 else 0.75 + 0.5 * (numbers - 2))
        evidence.append(f"{numbers} numbers in a short instruction")
    if ("rror" in shape or "xception" in shape or "panic: " in shape or "fault" in shape
            or "\n  " in shape) and _TRACE.search(shape):
        scores["code"] += 3.0
        evidence.append("a stack trace or compiler error")
    if hits["translation"] and _TO_LANGUAGE.search(region):
        scores["translation"] += 3.5
        evidence.append("a target language named")
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


_PROOF = ("prove", "proof", "show that", "demuestra", "demuestre", "démontre", "montrez que", "beweise",
          "zeige, dass", "zeige dass", "докаж", "证明", "証明", "prove que", "demonstre")
# The complexity model: a weighted sum of the features below, clipped to 0..1 (low < 0.35 <= medium < 0.65
# <= high). Weights fitted by coordinate search on the guide-labelled sets (bench/bench_classify.py
# --fit-complexity); every feature is 0..1.
_CX_W = {"bias": 0.25, "ask": 0.35, "material": 0.35, "convo": 0.25, "reasoning": 0.65, "proof": 0.5,
         "constraints": 0.1, "steps": 0.15, "clauses": 0.15, "code": 0.0, "math": 0.0, "code_task": 0.05,
         "chat": 0.0, "translation": -0.05, "creative": 0.0, "summarization": 0.0, "extraction": 0.0}


def _clip(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


_CX_KEYS = tuple(_CX_W)
_CX_VEC = tuple(_CX_W[k] for k in _CX_KEYS)
_TASK_KEY = {t: ("code_task" if t == "code" else t) for t in TASKS}


def complexity_features(task: str, last: str, region: str, total_chars: int, turns: int,
                        code_lines: int) -> dict[str, float]:
    """What complexity measures, each 0..1: the ask's length (the instruction, log-scaled: ~5 tokens → 0,
    ~150 → 1), the pasted material's length (~30 tokens → 0, ~3,000 → 1), a long conversation, reasoning
    cues (design, analyse, trade-off, step by step, …), a proof asked for, explicit constraints (must,
    without, at least, …), step markers (numbered or bulleted lines, then, finally), clauses of the ask
    (commas, "and", questions: several things asked at once), the amount of code, and the task."""
    ask_tokens = len(region) / 4
    material_tokens = max(0, len(last) - len(region)) / 4
    f = dict.fromkeys(_CX_KEYS, 0.0)
    f["bias"] = 1.0
    f["ask"] = _clip((math.log10(ask_tokens + 1) - 0.7) / 1.5)
    f["material"] = _clip((math.log10(material_tokens + 1) - 1.5) / 2.0) if material_tokens else 0.0
    f["convo"] = _clip((math.log10(total_chars / 4 + 1) - 2.5) / 1.5) if turns > 2 else 0.0
    f["reasoning"] = min(len([c for c in COMPLEXITY_CUES if c in region]), 4) / 4
    f["proof"] = 1.0 if [c for c in _PROOF if c in region] else 0.0
    f["constraints"] = min(len([c for c in CONSTRAINT_CUES if c in region]), 4) / 4
    f["steps"] = min(sum([region.count(c) for c in STEP_CUES]), 5) / 5
    f["clauses"] = min(region.count(",") + region.count(" and ") + region.count("?") + region.count("，")
                       + region.count("、"), 6) / 6
    f["code"] = min(code_lines, 20) / 20
    f[_TASK_KEY[task]] = 1.0
    return f


def _complexity(task: str, last: str, region: str, total_chars: int, turns: int, code_lines: int,
                evidence: list[str]) -> float:
    f = complexity_features(task, last, region, total_chars, turns, code_lines)
    parts = [w * v for w, v in zip(_CX_VEC, f.values()) if v]
    score = _clip(sum(parts))
    evidence.append(f"complexity {score:.2f}: ask {f['ask']:.2f}, material {f['material']:.2f}, "
                    f"reasoning {f['reasoning']:.2f}, proof {f['proof']:.0f}, constraints {f['constraints']:.2f}")
    return score
