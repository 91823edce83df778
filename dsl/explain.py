"""The policy read aloud: plain-English markdown (or plain text) for a compliance reviewer.

It says where each provider sends data, which secrets it uses (by environment variable name only),
what models cost, what each team may spend, and what every route does, in the order they are tried.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from urllib.parse import urlsplit

from . import ast as A
from . import policy_version

DEFAULT_HOSTS = {
    "openai": "api.openai.com",
    "anthropic": "api.anthropic.com",
    "gemini": "generativelanguage.googleapis.com",
}
MOCK_HOST = "nowhere: built-in mock, data never leaves the gateway"
KIND_WORDS = {
    "openai": "OpenAI-compatible API",
    "azure": "Azure OpenAI",
    "anthropic": "Anthropic API",
    "gemini": "Google Gemini API",
    "mock": "built-in mock",
}
FACT_WORDS = {
    "model": "the requested model",
    "team": "the team",
    "project": "the project",
    "app": "the app",
    "cost_center": "the cost center",
    "key": "the key",
    "task": "the task",
    "complexity": "the complexity",
    "user": "the user",
    "weekday": "the weekday",
}
WEEKDAY_WORDS = dict(zip(A.WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")))
SCOPE_WORDS = {"key": "Key", "team": "Team", "project": "Project", "app": "App", "cost_center": "Cost center"}
TIER_OPS = {
    ">=": "of tier {} or higher", ">": "of a tier above {}", "<=": "of tier {} or lower", "<": "of a tier below {}",
    "==": "of tier {}", "!=": "of any tier but {}",
}
FORMATS = ("md", "text")


@dataclass(frozen=True)
class _Style:
    """Markdown or plain text: the sentences are the same, only the emphasis differs."""

    md: bool

    def bold(self, s: str) -> str:
        return f"**{self.esc(s)}**" if self.md else s

    def code(self, s: str) -> str:
        if not self.md:
            return s
        fence = "``" if "`" in s else "`"
        pad = " " if s.startswith("`") or s.endswith("`") else ""
        return f"{fence}{pad}{s}{pad}{fence}"

    def esc(self, s: str) -> str:
        """Free text (descriptions, names) must not turn into markup by accident."""
        s = s.replace("\n", " ")
        return re.sub(r"([\\*`<>\[\]|])", r"\\\1", s) if self.md else s

    def heading(self, level: int, s: str) -> list[str]:
        if self.md:
            return ["#" * level + " " + s, ""]
        return [s, ("=" if level == 1 else "-") * len(s), ""]


def explain(ps: A.PolicySet, fmt: str = "md") -> str:
    """The whole policy set in plain language; ``fmt`` is ``md`` (markdown) or ``text``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    s = _Style(md=fmt == "md")
    out: list[str] = []
    out += s.heading(1, "Open-Router policy")
    files = ", ".join(s.code(f.path) for f in ps.files) or "none"
    out.append(f"Policy version {s.code(policy_version(ps))}, from {files}.")
    out.append("")

    providers = ps.of(A.Provider)
    out += s.heading(2, "Providers: where request data goes")
    out += [f"- {_provider(p, s)}" for p in providers] or ["No providers are declared."]
    out.append("")

    models = ps.of(A.Model)
    out += s.heading(2, "Models")
    out += [f"- {_model(m, s)}" for m in models] or ["No models are declared."]
    out.append("")

    budgets = ps.of(A.Budget)
    out += s.heading(2, "Budgets")
    out += [f"- {_budget(b, s)}" for b in budgets] or ["No budgets: spending is recorded but never capped."]
    out.append("")

    centers, shared = ps.of(A.CostCenter), ps.of(A.Shared)
    if centers or shared:
        out += s.heading(2, "Cost centers and shared costs")
        out += [f"- {_cost_center(c, s)}" for c in centers]
        out += [f"- {_shared(sh, s)}" for sh in shared]
        out.append("")

    limits = ps.of(A.Limit)
    out += s.heading(2, "Rate limits")
    out += [f"- {_limit(lim, s)}" for lim in limits] or ["No rate limits are set by the policy."]
    out.append("")

    routes = ps.of(A.Route)
    ordered = [r for r in routes if not r.is_default]
    defaults = [r for r in routes if r.is_default]
    out += s.heading(2, "Routes")
    out.append("First matching route wins, in this order.")
    out.append("")
    for i, r in enumerate(ordered, 1):
        out += _route(f"{i}.", r, s)
    if defaults:
        out += _route(f"{len(ordered) + 1}.", defaults[0], s)
    else:
        out.append(f"{len(ordered) + 1}. If no route matches, the request goes to the model the client asked for "
                   f"(no {s.code('default')} route is written, so the built-in one applies).")
    return "\n".join(out).rstrip("\n") + "\n"


# --------------------------------------------------------------------------- declarations


def provider_host(p: A.Provider) -> str:
    """The host (with port, if any) that receives this provider's requests."""
    if p.kind == "mock":
        return MOCK_HOST
    if p.base_url:
        parts = urlsplit(p.base_url)
        host = parts.netloc.rsplit("@", 1)[-1]  # never echo credentials written into a URL
        return host or p.base_url
    return DEFAULT_HOSTS.get(p.kind, "no endpoint configured")


def _provider(p: A.Provider, s: _Style) -> str:
    kind = KIND_WORDS.get(p.kind, p.kind)
    host = provider_host(p)
    if p.kind == "mock":
        text = f"{s.bold(p.name)} ({kind}): data goes {host}."
    else:
        text = f"{s.bold(p.name)} ({kind}) sends request data to {s.bold(host)}"
        if p.base_url:
            text += f" ({s.code(p.base_url) if '@' not in p.base_url else 'base URL set in the policy'})"
        text += "."
    if p.api_version:
        text += f" API version {s.code(p.api_version)}."
    if isinstance(p.key, A.EnvRef):
        text += f" Authenticates with the key in the environment variable {s.code(p.key.name)}."
    elif isinstance(p.key, str):
        text += " Warning: its key is written in the policy file itself (the checker rejects this)."
    elif p.kind != "mock":
        text += " Sends no key."
    for name, value in p.headers:
        if isinstance(value, A.EnvRef):
            text += (f" Adds the header {s.code(name)} with the value of the environment variable "
                     f"{s.code(value.name)}.")
        else:  # the value is not shown: it may be a secret someone wrote inline
            text += f" Adds the header {s.code(name)} with a fixed value written in the policy."
    if p.timeout is not None:
        text += f" Each call times out after {duration_words(p.timeout)}."
    return text


def _money(d: Decimal) -> str:
    return format(d, "f")


def _model(m: A.Model, s: _Style) -> str:
    text = f"{s.bold(m.name)} is {s.code(m.upstream)} at provider {m.provider}"
    if m.price_in is None or m.price_out is None:
        text += "; no price is declared, so its requests are recorded as unpriced"
    elif m.price_in == 0 and m.price_out == 0 and m.price_cached_in is None:
        text += "; free (price 0)"
    else:
        text += (f"; costs {_money(m.price_in)} per 1M input tokens and {_money(m.price_out)} "
                 f"per 1M output tokens")
        if m.price_cached_in is not None:
            text += f" ({_money(m.price_cached_in)} per 1M input tokens read from the provider's cache)"
    if m.tier:
        text += f"; tier {m.tier}"
    if m.context is not None:
        text += f"; context window {m.context:,} tokens"
    caps = [c for c in A.CAPABILITIES if c in m.capabilities] + sorted(m.capabilities - set(A.CAPABILITIES))
    text += f"; supports {_join(caps)}" if caps else "; no declared capabilities"
    if m.quality:
        scores = [f"{_money(v)} for {'any other task' if t == A.QUALITY_DEFAULT else t}" for t, v in m.quality]
        text += f"; declared quality {_join(scores)}"
    return text + "."


def _scope(scope: str, subject: str, s: _Style) -> str:
    return f"{SCOPE_WORDS.get(scope, scope)} {s.bold(subject)}"


def _budget(b: A.Budget, s: _Style) -> str:
    text = f"{_scope(b.scope, b.subject, s)} may spend up to {_money(b.amount)} {b.currency} per {b.period}"
    for t in b.thresholds:
        p = f"{_money(t.percent)}%"
        if t.action == "alert":
            text += f"; at {p} an alert is raised"
        elif t.action == "block":
            text += f"; at {p} requests are blocked"
        else:
            text += f"; at {p} requests are downgraded to {t.target}"
    if not b.thresholds:
        text += " (no threshold is set: spending is only recorded)"
    return text + "."


def _cost_center(c: A.CostCenter, s: _Style) -> str:
    text = f"Cost center {s.bold(c.name)} gets its own section of the bill"
    if c.owner:
        text += f"; owner {c.owner}"
    if c.description:
        text += f" ({c.description})"
    return text + "."


def _shared(sh: A.Shared, s: _Style) -> str:
    if sh.amount is not None:
        what = f"{_money(sh.amount)} {sh.currency} per {sh.period}"
    else:
        scope = _scope(sh.scope or '', sh.subject or '', s)
        what = f"everything {scope[:1].lower() + scope[1:]} spends"
    if sh.percentages is None:
        who = "in proportion to each cost center's own usage in the period"
    else:
        who = _join([f"{_money(p)}% to {s.bold(cc)}" for cc, p in sh.percentages])
    return f"Shared cost {s.bold(sh.name)}: {what} is paid by the cost centers, {who}."


def _limit(lim: A.Limit, s: _Style) -> str:
    rates = []
    if lim.requests_per_minute is not None:
        rates.append(f"{lim.requests_per_minute} requests per minute")
    if lim.tokens_per_minute is not None:
        rates.append(f"{lim.tokens_per_minute} tokens per minute")
    return f"{_scope(lim.scope, lim.subject, s)} may send up to {' and '.join(rates) or 'no requests'}."


# --------------------------------------------------------------------------- routes


def _route(num: str, r: A.Route, s: _Style) -> list[str]:
    who = []
    if r.meta.owner:
        who.append(f"owner {s.esc(r.meta.owner)}")
    if r.meta.ticket:
        who.append(f"ticket {s.esc(r.meta.ticket)}")
    head = f"{num} {s.bold(r.name)}" + (f" ({', '.join(who)})" if who else "")
    if r.is_default:
        when = "when no route above matches"
    elif r.when is None:
        when = "for every request"
    else:
        when = "when " + cond_words(r.when, s)
    sentence = f"{head}: {when}, {action_words(r.action, s)}"
    if r.fallback:
        sentence += f"; if that fails, try {_join(r.fallback, final=', then ', sep=', then ')}"
    sentence += "."
    extra = []
    if r.retries is not None:
        extra.append(f"A failed attempt is retried up to {r.retries} more time{'s' if r.retries != 1 else ''} "
                     "per model.")
    if r.timeout is not None:
        extra.append(f"Each attempt times out after {duration_words(r.timeout)}.")
    if r.retry_on:
        extra.append(f"Upstream status{'es' if len(r.retry_on) > 1 else ''} "
                     f"{_join([str(x) for x in r.retry_on])} also count{'' if len(r.retry_on) > 1 else 's'} as retryable.")
    lines = [" ".join([sentence] + extra)]
    indent = " " * (len(num) + 1)
    if r.meta.description:
        desc = s.esc(r.meta.description)
        lines.append(f"{indent}Purpose: {'*' + desc + '*' if s.md else desc}")
    return lines + [""]


def action_words(a: A.Action, s: _Style) -> str:
    if isinstance(a, A.Use):
        if a.model == A.REQUESTED:
            return "send the request to the model the client asked for"
        return f"send the request to {a.model}"
    if isinstance(a, A.Split):
        who = _sticky_subjects(a.sticky)
        arms = [f"{_money(x.percent)}% to {x.model}" for x in a.arms]
        arms[0] = f"{_money(a.arms[0].percent)}% of {who} to {a.arms[0].model}"
        return f"send {_join(arms)} ({_sticky_note(a.sticky, 'request')})"
    if isinstance(a, A.Choose):
        models = _join(a.models)
        if a.strategy == "cheapest":
            text = f"send the request to the cheapest of {models}"
        elif a.strategy == "fastest":
            pct = "95th-percentile" if a.by == "p95" else "median"
            text = (f"send the request to whichever of {models} answers fastest right now (lowest {pct} "
                    "latency over the recent window; a model with too little data is tried first to measure it)")
        elif a.strategy == "least_busy":
            text = f"send the request to whichever of {models} has the fewest requests in flight"
        elif a.strategy == "round_robin":
            text = f"send requests to {models} in turn"
        else:
            text = f"send the request to one of {models} ({a.strategy})"
        conds = []
        for f in a.filters:
            if f.what == "tier":
                conds.append(TIER_OPS.get(f.op or "==", "of tier {}").format(f.value))
            elif f.what == "quality":
                conds.append(f"whose declared quality for the request's task (else their default) is "
                             f"{QUALITY_OPS.get(f.op or '>=', f.op or '')} {f.value}")
            else:
                conds.append(f"that support {f.value}")
        if conds:
            text += ", considering only models " + " and ".join(conds)
        if a.strategy == "cheapest":
            text += (" (cheapest for this request: its prompt plus its expected completion at each model's "
                     "prices; a model without prices last)")
        return text
    if isinstance(a, A.Ramp):
        sticky = a.sticky or A.Sticky("key")
        return (f"move traffic to {a.model} gradually: {_money(a.start_percent)}% on {a.start.isoformat()}, "
                f"rising steadily to {_money(a.end_percent)}% on {a.end.isoformat()} (nothing moves before "
                f"the start; after the end it stays at {_money(a.end_percent)}%); the rest goes to {a.rest} "
                f"({_sticky_note(sticky, 'day')}); schedule: {ramp_schedule(a)}"
                + (f"; {guard_words(a)}" if a.guard is not None else ""))
    raise TypeError(f"not an action: {a!r}")


QUALITY_OPS = {">=": "at least", ">": "above", "<=": "at most", "<": "below", "==": "exactly", "!=": "not"}
GUARD_WORDS = {"error_rate": "error rate", "p50": "median latency", "p95": "95th-percentile latency",
               "ttft_p50": "median time to first token", "ttft_p95": "95th-percentile time to first token"}


def ramp_schedule(a: A.Ramp, points: int = 5) -> str:
    """The ramp's share on a few dates from its start to its end (weekly, or evenly when shorter)."""
    from datetime import timedelta

    days = (a.end - a.start).days
    if days <= 0:
        return f"{_money(a.end_percent)}% from {a.start.isoformat()}"
    step = 7 if 14 <= days <= 7 * 8 else max(1, days // (points - 1))
    out, d = [], 0
    while d < days:
        share = a.start_percent + (a.end_percent - a.start_percent) * d / days
        out.append(f"{_pct(share)}% on {(a.start + timedelta(days=d)).isoformat()}")
        d += step
    out.append(f"{_money(a.end_percent)}% from {a.end.isoformat()} on")
    return ", ".join(out)


def _pct(d: Decimal) -> str:
    return _money(d.quantize(Decimal("0.1")).normalize()) if d != d.to_integral_value() else _money(d.normalize())


def guard_words(a: A.Ramp) -> str:
    g = a.guard
    assert g is not None
    tests = []
    for t in g.tests:
        what = GUARD_WORDS.get(t.metric, t.metric)
        if t.percent is not None:
            tests.append(f"{what} is above {_money(t.percent)}%")
        elif t.duration is not None:
            tests.append(f"{what} is above {duration_words(t.duration)}")
        else:
            tests.append(f"{what} {t.op} {t.number}")
    watched = g.model or a.model
    return (f"guarded: while {watched}'s {_join(tests, ' or ')} over the last {duration_words(g.window)} (this "
            f"gateway's live status), the ramp holds and every request goes to {a.rest}; it resumes on its own "
            "once the guard clears")


def _sticky_subjects(st: A.Sticky | None) -> str:
    if st is None:
        return "requests"
    if st.by == "user":
        return "users"
    if st.by == "key":
        return "keys"
    return f"{st.param} header values"


def _sticky_note(st: A.Sticky | None, per: str) -> str:
    day = " on a given day" if per == "day" else ""
    if st is None:
        return "drawn anew for each request"
    if st.by == "user":
        return f"each user always gets the same model{day}"
    if st.by == "key":
        return f"each key always gets the same model{day}"
    return f"requests with the same {st.param} header always get the same model{day}"


# --------------------------------------------------------------------------- conditions


def cond_words(c: A.Cond, s: _Style, negate: bool = False) -> str:
    """The condition as an English clause; nested groups keep parentheses so the reading is exact."""
    if isinstance(c, A.Not):
        return cond_words(c.item, s, not negate)
    if isinstance(c, (A.And, A.Or)):
        if negate:
            return "it is not the case that " + _group(c, s)
        items = _merge_ranges(list(c.items), s) if isinstance(c, A.And) else list(c.items)
        joiner = " and " if isinstance(c, A.And) else " or "
        return joiner.join(x if isinstance(x, str) else _nested(x, s) for x in items)
    return _atom_words(c, s, negate)


def _group(c: A.Cond, s: _Style) -> str:
    return f"({cond_words(c, s)})"


def _nested(c: A.Cond, s: _Style) -> str:
    if isinstance(c, (A.And, A.Or)):
        return _group(c, s)
    return cond_words(c, s)


def _merge_ranges(items: list, s: _Style) -> list:
    """``time >= 09:00 and time < 17:00`` reads as one window: "between 09:00 and 17:00 UTC"."""
    out: list = []
    used: set[int] = set()
    for i, lo in enumerate(items):
        if i in used:
            continue
        if (isinstance(lo, A.Compare) and lo.fact.name in ("time", "date") and lo.op in (">=", ">")):
            for j in range(i + 1, len(items)):
                hi = items[j]
                if (j not in used and isinstance(hi, A.Compare) and hi.fact == lo.fact
                        and hi.op in ("<", "<=")):
                    used.add(j)
                    out.append(_window(lo, hi))
                    break
            else:
                out.append(lo)
            continue
        out.append(lo)
    return out


def _window(lo: A.Compare, hi: A.Compare) -> str:
    a, b = _literal(lo.value), _literal(hi.value)
    ends = {(">=", "<"): "", (">", "<"): " (both excluded)", (">=", "<="): " (both included)",
            (">", "<="): f" (from just after {a}, up to and including {b})"}[(lo.op, hi.op)]
    if lo.fact.name == "time":
        return f"the time is between {a} and {b} UTC{ends}"
    return f"the date is between {a} and {b}{ends}"


_ORDER_WORDS = {
    "<": "fewer than {}", "<=": "at most {}", ">": "more than {}", ">=": "at least {}", "==": "exactly {}",
    "!=": "other than {}",
}
_TIME_WORDS = {
    "<": "before {}", "<=": "at or before {}", ">": "after {}", ">=": "at or after {}", "==": "exactly {}",
    "!=": "not {}",
}
_DATE_WORDS = {
    "<": "before {}", "<=": "on or before {}", ">": "after {}", ">=": "on or after {}", "==": "on {}",
    "!=": "not on {}",
}
_NEGATED_OP = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}


def _literal(v: object) -> str:
    if isinstance(v, date):
        return v.isoformat()
    return str(v)


def _value(f: A.Fact, v: object, s: _Style) -> str:
    if f.name == "weekday" and isinstance(v, str):
        return WEEKDAY_WORDS.get(v, v)
    if isinstance(v, str):
        if f.name == "header" or v == "" or not re.fullmatch(r"[A-Za-z0-9_.@:/\-]+", v):
            return '"' + s.esc(v) + '"'
        return s.esc(v)
    return _literal(v)


def _subject(f: A.Fact) -> str:
    if f.name == "header":
        return f"the header {f.param}"
    return FACT_WORDS.get(f.name, f"the {f.name}")


def _atom_words(c: A.Cond, s: _Style, negate: bool) -> str:
    if isinstance(c, A.IsTrue):
        name = c.fact.name
        if name == "stream":
            return "the request is not streamed" if negate else "the request is streamed"
        if name == "tools":
            return "the request offers no tools" if negate else "the request offers tools"
        if name == "tag":
            return f"the request is {'not ' if negate else ''}tagged {s.esc(c.fact.param or '')}"
        if name == "header":
            return f"the request {'does not have' if negate else 'has'} the header {c.fact.param}"
        return f"{_subject(c.fact)} is {'not ' if negate else ''}set"
    if isinstance(c, A.Compare):
        op = _NEGATED_OP[c.op] if negate else c.op
        f = c.fact
        if f.name == "prompt_tokens":
            return f"the prompt has {_ORDER_WORDS[op].format(c.value)} tokens (estimated)"
        if f.name == "time":
            return f"the time is {_TIME_WORDS[op].format(_literal(c.value))} UTC"
        if f.name == "date":
            return f"the date is {_DATE_WORDS[op].format(_literal(c.value))}"
        value = _value(f, c.value, s)
        words = {"==": "is", "!=": "is not", "<": "sorts before", "<=": "sorts at or before",
                 ">": "sorts after", ">=": "sorts at or after"}[op]
        if f.name == "header" and op == "!=":
            return f"the header {f.param} is missing or not {value}"
        return f"{_subject(f)} {words} {value}"
    if isinstance(c, A.In):
        negated = c.negated != negate
        values = [_value(c.fact, v, s) for v in c.values]
        if not negated:
            return f"{_subject(c.fact)} is {_join(values, final=' or ')}"
        if len(values) == 1:
            return f"{_subject(c.fact)} is not {values[0]}"
        if len(values) == 2:
            return f"{_subject(c.fact)} is neither {values[0]} nor {values[1]}"
        return f"{_subject(c.fact)} is none of {_join(values, final=' or ')}"
    if isinstance(c, A.Matches):
        verb = "does not match" if negate else "matches"
        return f"{_subject(c.fact)} {verb} the pattern {s.code(c.pattern) if c.pattern else '(empty)'}"
    raise TypeError(f"not a condition: {c!r}")


# --------------------------------------------------------------------------- words


def duration_words(d: A.Duration) -> str:
    sec = d.seconds
    if sec >= 60 and sec % 60 == 0:
        n = int(sec // 60)
        return f"{n} minute{'s' if n != 1 else ''}"
    if sec < 1 and (sec * 1000) == (sec * 1000).to_integral_value():
        return f"{int(sec * 1000)} milliseconds"
    text = format(sec.normalize(), "f") if sec != sec.to_integral_value() else str(int(sec))
    return f"{text} second{'s' if sec != 1 else ''}"


def _join(items, final: str = " and ", sep: str = ", ") -> str:
    items = [str(x) for x in items]
    if len(items) <= 1:
        return "".join(items)
    return sep.join(items[:-1]) + final + items[-1]
