"""Hypothesis strategies for the policy language: random valid AST PolicySets (no parser needed) and
random Facts biased toward the values a policy mentions, so that its rules actually match.

Reusable: ``policy_sets()``, ``conditions()``, ``facts_for(ps)``, ``facts()``.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from dsl.ast import (
    CAPABILITIES,
    PROVIDER_KINDS,
    TIERS,
    WEEKDAYS,
    And,
    Arm,
    Budget,
    Choose,
    Compare,
    Cond,
    Duration,
    Fact,
    Filter,
    In,
    IsTrue,
    Limit,
    Matches,
    Model,
    Not,
    Or,
    PolicyFile,
    PolicySet,
    Provider,
    Ramp,
    Route,
    Span,
    Split,
    Sticky,
    Threshold,
    TimeOfDay,
    Use,
)
from dsl.decision import Facts

# Small pools, shared by policies and facts, so that random facts hit random rules often.
POOLS: dict[str, tuple[str, ...]] = {
    "model": ("m0", "m1", "m2", "m3", "gpt-x"),
    "team": ("eng", "ops", "research"),
    "project": ("chat", "search"),
    "app": ("web", "cli"),
    "cost_center": ("cc1", "cc2"),
    "key": ("k1", "k2", "k3"),
    "task": ("code", "chat", "summarize", "math"),
    "user": ("u1", "u2", "u3", "u4"),
    "weekday": WEEKDAYS,
}
HEADERS = ("x-class", "x-tenant")
HEADER_VALUES = ("a", "b", "interactive", "")
TAGS = ("batch", "beta")
PATTERNS = ("^e", "o", "^a$", "[ab]", "s$", "")
TOKENS = (0, 1, 100, 399, 400, 401, 1000)
BASE_DAY = date(2026, 12, 1)
STRING_NAMES = tuple(POOLS)


def _span(n: int) -> Span:
    return Span("gen.policy", n, 1, n, 10)


# Strategies are built once: hypothesis validates each new strategy object, and building them inside
# every draw made generating a 30-route policy ten times slower.
_ATOM_KINDS = st.sampled_from(("string", "string", "string", "header", "tag", "bool", "tokens", "time", "date", "weekday"))
_STRING_NAME = st.sampled_from(STRING_NAMES)
_HEADER = st.sampled_from(HEADERS)
_TAG = st.sampled_from(TAGS)
_BOOL_FACT = st.sampled_from(("stream", "tools"))
_ALL_OPS = st.sampled_from(("<", "<=", ">", ">=", "==", "!="))
_ORDER_OPS = st.sampled_from(("<", "<=", ">", ">="))
_TOKENS = st.sampled_from(TOKENS)
_CLOCK = st.sampled_from((0, 9 * 60, 12 * 60 + 30, 18 * 60, 23 * 60 + 59))
_DAY_OFFSET = st.integers(-3, 40)
_SHAPES = st.sampled_from(("==", "==", "==", "!=", "in", "in", "matches", "present", "<"))
_PATTERN = st.sampled_from(PATTERNS)
_STRING_ORDER = st.sampled_from(("<", ">="))
_VALUES = {name: st.sampled_from(values) for name, values in POOLS.items()} | {"header": st.sampled_from(HEADER_VALUES)}
_VALUE_LISTS = {name: st.lists(v, min_size=0, max_size=3) for name, v in _VALUES.items()}


# --------------------------------------------------------------------------- conditions


@st.composite
def _atoms(draw: st.DrawFn) -> Cond:
    kind = draw(_ATOM_KINDS)
    if kind in ("string", "weekday"):
        name = "weekday" if kind == "weekday" else draw(_STRING_NAME)
        fact = Fact(name)
        pool = name
    elif kind == "header":
        fact = Fact("header", draw(_HEADER))
        pool = "header"
    elif kind == "tag":
        return IsTrue(Fact("tag", draw(_TAG)))
    elif kind == "bool":
        return IsTrue(Fact(draw(_BOOL_FACT)))
    elif kind == "tokens":
        return Compare(Fact("prompt_tokens"), draw(_ALL_OPS), draw(_TOKENS))
    elif kind == "time":
        minutes = draw(_CLOCK)
        return Compare(Fact("time"), draw(_ORDER_OPS), TimeOfDay(minutes))
    else:
        day = BASE_DAY + timedelta(days=draw(_DAY_OFFSET))
        return Compare(Fact("date"), draw(_ALL_OPS), day)

    shape = draw(_SHAPES)
    if shape == "present":
        return IsTrue(fact) if fact.name == "header" else Compare(fact, "==", draw(_VALUES[pool]))
    if shape == "in":
        values = tuple(draw(_VALUE_LISTS[pool]))
        return In(fact, values, negated=draw(st.booleans()))
    if shape == "matches":
        return Matches(fact, draw(_PATTERN))
    if shape == "<":  # ordering on a string fact: legal in the AST, never dispatched on
        return Compare(fact, draw(_STRING_ORDER), draw(_VALUES[pool]))
    return Compare(fact, shape, draw(_VALUES[pool]))


_ATOMS = _atoms()


def atoms() -> st.SearchStrategy[Cond]:
    return _ATOMS


def _nest(inner: st.SearchStrategy[Cond]) -> st.SearchStrategy[Cond]:
    items = st.lists(inner, min_size=1, max_size=3).map(tuple)
    return st.one_of(_ATOMS, _ATOMS, _ATOMS, inner.map(Not), items.map(And), items.map(Or))


def _levels(depth: int) -> list[st.SearchStrategy[Cond]]:
    out = [_ATOMS]
    for _ in range(depth):
        out.append(_nest(out[-1]))
    return out


_CONDITIONS = _levels(3)


def conditions(depth: int = 3) -> st.SearchStrategy[Cond]:
    """Atoms under up to ``depth`` levels of and/or/not (hand-rolled: st.recursive is slow to draw)."""
    return _CONDITIONS[depth] if depth < len(_CONDITIONS) else _levels(depth)[depth]


# --------------------------------------------------------------------------- declarations

_PRICE = st.sampled_from((Decimal(0), Decimal("0.15"), Decimal("1"), Decimal("2.5"), Decimal(10)))
_TIER_OR_NONE = st.sampled_from((None,) + TIERS)
_CAPS = st.lists(st.sampled_from(CAPABILITIES), max_size=3).map(frozenset)
_SCORE = st.sampled_from((Decimal("0.5"), Decimal("0.7"), Decimal("0.8"), Decimal("0.86"), Decimal(1)))
_QUALITY = st.lists(st.tuples(st.sampled_from(("code", "chat", "math", "summarize", "default")), _SCORE),
                    max_size=3, unique_by=lambda x: x[0]).map(tuple)
_BAR = st.sampled_from(("0.7", "0.8", "0.86"))
_QUALITY_OPS = st.sampled_from((">=", ">=", ">", "<"))
_MODEL_NAMES = st.lists(st.sampled_from(POOLS["model"][:4]), min_size=2, max_size=4, unique=True)
_STICKY = st.one_of(
    st.none(),
    st.sampled_from((Sticky("user"), Sticky("key"))),
    _HEADER.map(lambda h: Sticky("header", h)),
)
_ACTION_KINDS = st.sampled_from(("use", "requested", "split", "choose", "ramp"))
_ARM_COUNT = st.integers(1, 3)
_PERCENT_CUT = st.integers(0, 100)
_RAMP_START = st.integers(0, 10)
_RAMP_LENGTH = st.integers(0, 30)
_RAMP_FROM = st.sampled_from((0, 5, 50))
_RAMP_TO = st.sampled_from((50, 100))
_FILTER_COUNT = st.integers(0, 2)
_TIER_OPS = st.sampled_from(("==", "!=", "<", "<=", ">", ">="))
_TIER = st.sampled_from(TIERS)
_CAPABILITY = st.sampled_from(CAPABILITIES)
_STRATEGY = st.sampled_from(("cheapest", "fastest", "least_busy", "round_robin"))
_RETRIES = st.sampled_from((None, 0, 2))
_TIMEOUT = st.sampled_from((None, Duration(Decimal(30))))
_RETRY_ON = st.sampled_from(((), (400,)))
# Mostly conjunctions at the top, as real routes are, so that a route matches a fair share of requests
# and later routes get reached too; now and then no condition at all.
_CONJUNCTION = st.lists(_CONDITIONS[2], min_size=2, max_size=3).map(lambda xs: And(tuple(xs)))
_WHEN = st.one_of(*[_CONJUNCTION] * 8, _CONDITIONS[3], _CONDITIONS[3], _CONDITIONS[3], st.none())
_PROVIDER_NAMES = st.lists(st.sampled_from(("p1", "p2", "p3")), min_size=1, max_size=3, unique=True)
_PROVIDER_KIND = st.sampled_from(PROVIDER_KINDS)
_BUDGET_SCOPES = st.lists(st.sampled_from(("key", "team", "project", "app", "cost_center")), max_size=4)
_LIMIT_SCOPES = st.lists(st.sampled_from(("key", "team")), max_size=2)
_PERIOD = st.sampled_from(("day", "week", "month"))


@st.composite
def models(draw: st.DrawFn, providers: tuple[str, ...]) -> tuple[Model, ...]:
    provider = st.sampled_from(providers)
    return tuple(
        Model(
            name,
            draw(provider),
            f"upstream-{name}",
            price_in=draw(_PRICE),
            price_out=draw(_PRICE),
            tier=draw(_TIER_OR_NONE),
            capabilities=draw(_CAPS),
            span=_span(10 + i),
            quality=draw(_QUALITY),
        )
        for i, name in enumerate(draw(_MODEL_NAMES))
    )


@st.composite
def actions(draw: st.DrawFn, alias: st.SearchStrategy[str], chosen_lists: st.SearchStrategy[list[str]], ms: tuple[Model, ...]) -> Any:
    kind = draw(_ACTION_KINDS)
    if kind == "use":
        return Use(draw(alias))
    if kind == "requested":
        return Use("requested")
    if kind == "split":
        n = draw(_ARM_COUNT)
        cuts = sorted(draw(_PERCENT_CUT) for _ in range(n - 1))
        percents = [b - a for a, b in zip([0] + cuts, cuts + [100])]
        return Split(tuple(Arm(Decimal(p), draw(alias)) for p in percents), draw(_STICKY))
    if kind == "ramp":
        start = BASE_DAY + timedelta(days=draw(_RAMP_START))
        end = start + timedelta(days=draw(_RAMP_LENGTH))
        return Ramp(draw(alias), Decimal(draw(_RAMP_FROM)), start, Decimal(draw(_RAMP_TO)), end, draw(alias), draw(_STICKY))
    chosen = tuple(draw(chosen_lists))
    by_name = {m.name: m for m in ms}
    # A checked policy never filters a choose list down to nothing; keep only filters that leave a model.
    kept: list[Filter] = []
    for _ in range(draw(_FILTER_COUNT)):
        if draw(st.booleans()):
            f = Filter("tier", draw(_TIER_OPS), draw(_TIER))
        else:
            f = Filter("supports", None, draw(_CAPABILITY))
        if any(_passes(by_name[a], kept + [f]) for a in chosen):
            kept.append(f)
    if draw(st.booleans()):  # a quality bar: applied per request (its task), so it may leave no model
        kept.insert(draw(st.integers(0, len(kept))), Filter("quality", draw(_QUALITY_OPS), draw(_BAR)))
    strategy = draw(_STRATEGY)
    by = draw(st.sampled_from((None, "p50", "p95"))) if strategy == "fastest" else None
    return Choose(strategy, chosen, tuple(kept), by=by)


def _passes(m: Model, filters: list[Filter]) -> bool:
    for f in filters:
        if f.what == "quality":
            continue
        if f.what == "supports" and f.value not in m.capabilities:
            return False
        if f.what == "tier":
            if m.tier is None:
                return False
            a, b = TIERS.index(m.tier), TIERS.index(f.value)
            if not {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[f.op or "=="]:
                return False
    return True


@st.composite
def policy_sets(draw: st.DrawFn, max_routes: int = 30) -> PolicySet:
    providers = tuple(
        Provider(name, draw(_PROVIDER_KIND), span=_span(1 + i)) for i, name in enumerate(draw(_PROVIDER_NAMES))
    )
    ms = draw(models(tuple(p.name for p in providers)))
    aliases = tuple(m.name for m in ms)
    alias = st.sampled_from(aliases)
    fallbacks = st.lists(alias, max_size=2, unique=True).map(tuple)
    action = actions(alias, st.lists(alias, min_size=1, max_size=4, unique=True), ms)
    rs = [
        Route(
            f"r{i}",
            draw(_WHEN),
            draw(action),
            fallback=draw(fallbacks),
            retries=draw(_RETRIES),
            timeout=draw(_TIMEOUT),
            retry_on=draw(_RETRY_ON),
            span=_span(100 + i),
        )
        for i in range(draw(st.integers(1, max_routes)))
    ]
    if draw(st.booleans()):
        default = Route("default", None, draw(action), fallback=draw(fallbacks), is_default=True, span=_span(99))
        rs.insert(draw(st.integers(0, len(rs))), default)  # written anywhere, tried last
    budgets = tuple(
        Budget(
            scope,
            draw(_VALUES[scope]),
            Decimal(100),
            "USD",
            draw(_PERIOD),
            (Threshold(Decimal(80), "alert"), Threshold(Decimal(100), "downgrade", aliases[0])),
            span=_span(50 + i),
        )
        for i, scope in enumerate(draw(_BUDGET_SCOPES))
    )
    limits = tuple(
        Limit(scope, draw(_VALUES[scope]), requests_per_minute=60, span=_span(70 + i))
        for i, scope in enumerate(draw(_LIMIT_SCOPES))
    )
    decls = providers + ms + budgets + limits + tuple(rs)
    # Split across two files now and then: declarations merge in file order.
    cut = draw(st.integers(0, len(decls)))
    return PolicySet((PolicyFile("a.policy", decls[:cut]), PolicyFile("b.policy", decls[cut:])))


# --------------------------------------------------------------------------- facts


def mentioned(ps: PolicySet) -> dict[str, set[str]]:
    """String values a policy's conditions name, per fact (headers as ``header:<name>``)."""
    found: dict[str, set[str]] = {}

    def walk(c: Cond) -> None:
        if isinstance(c, Not):
            walk(c.item)
        elif isinstance(c, (And, Or)):
            for x in c.items:
                walk(x)
        elif isinstance(c, (Compare, In)):
            key = f"header:{c.fact.param}" if c.fact.name == "header" else c.fact.name
            vals = (c.value,) if isinstance(c, Compare) else c.values
            found.setdefault(key, set()).update(v for v in vals if isinstance(v, str))

    for r in ps.of(Route):
        if r.when is not None:
            walk(r.when)
    return found


def _maybe(values: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    # Missing facts matter (they are where != and `not in` differ from ordinary logic), so draw them often.
    return st.one_of(st.none(), values, values, values)


_FACT_DAY = st.integers(-3, 45)
_FACT_CLOCK = st.sampled_from((0, 9 * 60, 9 * 60 + 1, 12 * 60 + 30, 18 * 60, 23 * 60 + 59))
_FACT_TAGS = st.lists(_TAG, max_size=2).map(frozenset)
_REQUEST_ID = st.sampled_from(("req-1", "req-2", "req-3"))


def facts_for(ps: PolicySet | None = None) -> st.SearchStrategy[Facts]:
    """Facts drawn from the shared pools plus every value ``ps`` names, one draw in four missing."""
    named = mentioned(ps) if ps is not None else {}

    def pool(key: str, base: tuple[str, ...]) -> st.SearchStrategy[str | None]:
        extra = sorted(named.get(key, ()))
        return _maybe(st.sampled_from(tuple(dict.fromkeys(base + tuple(extra) + ("zz",)))))

    fields = {name: pool(name, POOLS[name]) for name in STRING_NAMES if name != "weekday"}
    headers = {h: pool(f"header:{h}", HEADER_VALUES) for h in HEADERS}

    @st.composite
    def draw_facts(draw: st.DrawFn) -> Facts:
        values = {name: draw(strategy) for name, strategy in fields.items()}
        present = {h: v for h, strategy in headers.items() if (v := draw(strategy)) is not None}
        day = BASE_DAY + timedelta(days=draw(_FACT_DAY))
        clock = draw(_FACT_CLOCK)
        return Facts(
            headers=present,
            tags=draw(_FACT_TAGS),
            prompt_tokens=draw(_TOKENS),
            stream=draw(st.booleans()),
            tools=draw(st.booleans()),
            now=datetime.combine(day, time(clock // 60, clock % 60), tzinfo=timezone.utc),
            request_id=draw(_REQUEST_ID),
            **values,
        )

    return draw_facts()


def facts() -> st.SearchStrategy[Facts]:
    return facts_for(None)
