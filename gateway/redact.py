"""Redaction for logged content (`--log-content`): masks e-mail addresses, phone numbers, payment card
numbers (Luhn-checked), IBANs (mod-97-checked) and API-key-like strings, and says which kinds it masked.

    text, kinds = redact("mail ana@example.es, card 4111 1111 1111 1111")
    # ("mail [email], card [card]", {"email", "card"})

Order matters: keys and IBANs before cards (an IBAN holds long digit runs), cards before phones (a card
number looks like a long phone number). Checksums keep ordinary numbers (order ids, amounts, dates) from
being masked as cards or IBANs; a phone needs 8 to 15 digits and a phone-like shape.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

_KEY = re.compile(
    r"\b(?:sk-(?:ant-|proj-|or-)?[A-Za-z0-9_-]{16,}"  # OpenAI, Anthropic, OpenRouter-style keys
    r"|AKIA[0-9A-Z]{16}"  # AWS access key id
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API key
    r"|gh[pousr]_[A-Za-z0-9]{30,}"  # GitHub tokens
    r"|xox[abprs]-[A-Za-z0-9-]{10,}"  # Slack tokens
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"  # JWTs
    r")"
    r"|(?i:(?<=bearer )[A-Za-z0-9._~+/-]{20,}=*)"
    r"|(?i:(?<=api[_-]key[=:] )[A-Za-z0-9._-]{16,}|(?<=api[_-]key=)[A-Za-z0-9._-]{16,})")
_EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}\b")
_CARD = re.compile(r"(?<![\d-])[1-9](?:[ -]?\d){12,18}(?![\d-])")  # issuer digits never start with 0
_PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\(?\d[\d ().-]{6,}\d(?!\w)")


def luhn(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = ord(ch) - 48
        if i % 2 == parity:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(raw: str) -> bool:
    s = raw.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    try:
        return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1
    except ValueError:
        return False


def redact(text: str) -> tuple[str, set[str]]:
    """``text`` with every recognised secret or personal datum replaced by ``[kind]``, and the kinds."""
    kinds: set[str] = set()

    def sub(pattern: re.Pattern[str], kind: str, text: str, check: Any = None) -> str:
        def repl(m: re.Match[str]) -> str:
            if check is not None and not check(m.group(0)):
                return m.group(0)
            kinds.add(kind)
            return f"[{kind}]"
        return pattern.sub(repl, text)

    text = sub(_KEY, "api_key", text)
    text = sub(_EMAIL, "email", text)
    text = sub(_IBAN, "iban", text, iban_ok)
    text = sub(_CARD, "card", text, lambda s: luhn(re.sub(r"\D", "", s)))
    text = sub(_PHONE, "phone", text, _phone_like)
    return text, kinds


def _phone_like(s: str) -> bool:
    digits = re.sub(r"\D", "", s)
    if not 8 <= len(digits) <= 15:
        return False
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", s.strip()) or re.fullmatch(r"[\d.]+", s):  # a date, a plain number
        return s.startswith(("+", "00")) or len(digits) >= 10 and not re.fullmatch(r"\d+\.\d+", s)
    return True


def redact_messages(messages: Iterable[Any]) -> tuple[list[dict[str, Any]], set[str]]:
    """Chat messages as ``{"role", "content"}`` with their text redacted (non-text parts dropped)."""
    out: list[dict[str, Any]] = []
    kinds: set[str] = set()
    for m in messages:
        if not isinstance(m, dict):
            continue
        content = m.get("content")
        if isinstance(content, list):
            content = "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        if not isinstance(content, str):
            content = ""
        text, k = redact(content)
        kinds |= k
        out.append({"role": str(m.get("role")), "content": text})
    return out, kinds


__all__ = ["iban_ok", "luhn", "redact", "redact_messages"]
