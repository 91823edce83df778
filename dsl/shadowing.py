"""Which routes can never match (W190, W191) and which ramps overlap (W147), computed on the regions of
dsl/regions.py with indexes so that a 10,000-route policy is checked in near-linear time.

The plain statement of W190 is pairwise: every later route against every earlier route, and every later
route against the pool (`RegionUnion`) of earlier disjuncts. `shadow_reference` says exactly that and is kept as
the specification; `shadow_findings` gives the same findings in near-linear time:

* every disjunct is turned once into a `Row`: its value sets interned to small integers, with the subset
  relation between two interned sets computed once and remembered (`Table`);
* an earlier row R can only contain a later row S when, for each of R's positive literals (a fact with a
  finite set of allowed values V: ==, in, is, a weekday or flag), S has a literal on that fact whose values
  lie in V (conjunctions never hold a full or empty set, so a fact S leaves open is never inside R's). So R
  is filed under ONE positive literal (the one whose values are rarest over the whole policy), under
  (fact, v) for every v in V; a row with no positive literal is filed under one of its facts, and a row
  with no fact at all (catches everything) in a short list. S looks up one value of each of its positive
  literals and each of its facts, and runs the exact test only on what it finds;
* the pool of earlier disjuncts keeps its exact behaviour (absorb, drop, join the first joinable entry in
  order, stop growing at DNF_LIMIT entries), with each of its three searches narrowed by an index.
"""
from __future__ import annotations

from typing import Iterable, Iterator, Mapping

from . import ast as A
from .regions import DNF_LIMIT, Discrete, FactKey, Region, RegionUnion, Undecided, ValueSet, implies, join, meet
from .regions import dnf as regions_of

__all__ = ["Finding", "Meets", "Pool", "Rarity", "Row", "Supersets", "Table", "route_dnfs", "shadow_findings",
           "shadow_reference"]


class Row:
    """One conjunction, normalised once: ``ids`` maps each fact to its interned value set; ``pos`` lists the
    positive literals (fact, finite set of allowed values); ``keys`` is the set of facts it tests."""

    __slots__ = ("conj", "ids", "pos", "eqs", "pairs", "keys", "owner", "filing")

    def __init__(self, conj: Region, ids: dict, pos: tuple, eqs: tuple, owner: int) -> None:
        self.conj = conj
        self.ids = ids
        self.pos = pos
        self.eqs = eqs  # the positive literals allowing one value, as (fact, value), in the table's fact order
        self.pairs = tuple(_pairs(eqs))
        self.keys = frozenset(conj)
        self.owner = owner
        self.filing: tuple[str, object] | None = None  # set by the first index the row is filed in


class Table:
    """Interned value sets and the remembered subset relation between them."""

    def __init__(self) -> None:
        self.ids: dict[ValueSet, int] = {}
        self.sets: list[ValueSet] = []
        self.memo: dict[tuple[int, int], bool] = {}
        self.facts: dict[FactKey, int] = {}  # a fixed order of facts (keys do not compare with each other)

    def row(self, conj: Region, owner: int = -1) -> Row:
        ids = {}
        pos = []
        eqs = []
        for k, s in conj.items():
            if s.full():  # never produced by dnf or join; a full set holds for every request anyway
                continue
            sid = self.ids.get(s)
            if sid is None:
                sid = self.ids[s] = len(self.sets)
                self.sets.append(s)
            ids[k] = sid
            if isinstance(s, Discrete) and not s.co:
                pos.append((k, s.vals))
                if len(s.vals) == 1:
                    eqs.append((self.facts.setdefault(k, len(self.facts)), k, next(iter(s.vals))))
        eqs.sort(key=lambda e: e[0])
        return Row(conj, ids, tuple(pos), tuple((k, v) for _, k, v in eqs), owner)

    def within(self, s: Row, r: Row) -> bool:
        """``implies(s.conj, r.conj)``: every request matching ``s`` matches ``r``."""
        sids = s.ids
        memo = self.memo
        for k, b in r.ids.items():
            a = sids.get(k)
            if a is None:
                return False  # s leaves the fact open; r's set is not full
            if a != b:
                v = memo.get((a, b))
                if v is None:
                    v = memo[(a, b)] = self.sets[a].subset(self.sets[b])  # type: ignore[arg-type]
                if not v:
                    return False
        return True


def _pairs(eqs: tuple) -> Iterator[tuple]:
    for i, a in enumerate(eqs):
        for b in eqs[i + 1:]:
            yield a, b


class Rarity:
    """How many rows carry each (fact, value) of a positive literal, each pair of one-value literals, and
    each fact: an index files a row under its rarest literal (or pair) so that later lookups meet few rows."""

    def __init__(self, rows: Iterable[Row]) -> None:
        self.values: dict[tuple, int] = {}
        self.pairs: dict[tuple, int] = {}
        self.facts: dict[FactKey, int] = {}
        for row in rows:
            for k, vals in row.pos:
                for v in vals:
                    self.values[(k, v)] = self.values.get((k, v), 0) + 1
            for pair in row.pairs:
                self.pairs[pair] = self.pairs.get(pair, 0) + 1
            for k in row.ids:
                self.facts[k] = self.facts.get(k, 0) + 1

    def filing(self, row: Row) -> tuple[str, object]:
        """Where an index files ``row``: ("pair", two one-value literals), ("value", a positive literal),
        ("fact", a fact) or ("always", None), whichever later rows are expected to look up least."""
        values = self.values
        if row.pos:
            literal = min(row.pos, key=lambda kv: sum(values.get((kv[0], v), 0) for v in kv[1]))
            cost = sum(values.get((literal[0], v), 0) for v in literal[1])
            pair = min(row.pairs, key=lambda p: self.pairs.get(p, 0), default=None)
            if pair is not None and self.pairs.get(pair, 0) < cost:
                return "pair", pair
            return "value", literal
        if row.ids:
            return "fact", min(row.ids, key=lambda k: self.facts.get(k, 0))
        return "always", None


class Supersets:
    """Rows filed so that ``find(s)`` returns (each once) every filed row that may contain ``s``: a superset
    of the rows r with ``within(s, r)``, usually a small one."""

    def __init__(self, rarity: Rarity, live: Mapping | None = None) -> None:
        self.rarity = rarity
        self.live = live  # when given, items not in it are stale: skipped, and pruned from the lists
        self.by_value: dict[tuple, list] = {}  # (fact, value) → rows filed under a positive literal
        self.by_pair: dict[tuple, list] = {}   # ((fact, value), (fact, value)) → rows filed under two
        self.by_fact: dict[FactKey, list] = {}    # fact → rows with no positive literal
        self.always: list = []                 # rows that test nothing

    def add(self, row: Row, item: object) -> None:
        if row.filing is None:
            row.filing = self.rarity.filing(row)
        how, where = row.filing
        if how == "pair":
            self.by_pair.setdefault(where, []).append(item)
        elif how == "value":
            k, vals = where
            for v in vals:
                self.by_value.setdefault((k, v), []).append(item)
        elif how == "fact":
            self.by_fact.setdefault(where, []).append(item)
        else:
            self.always.append(item)

    def _get(self, table: dict, key: object) -> list:
        got = table.get(key)
        if got and self.live is not None:
            alive = [q for q in got if q in self.live]
            if len(alive) != len(got):
                got = table[key] = alive
        return got or []

    def find(self, s: Row) -> list:
        if self.live is not None:
            self.always = [q for q in self.always if q in self.live]
        out = list(self.always)
        if self.by_fact:
            for k in s.ids:
                out += self._get(self.by_fact, k)
        by_value = self.by_value
        for k, vals in s.pos:
            # A row filed under fact k contains s only if all of s's values on k are among its own: one
            # value of s finds it. Take the value with the fewest rows.
            best, size = None, 0
            for v in vals:
                got = by_value.get((k, v))
                if not got:
                    best = None
                    break
                if best is None or len(got) < size:
                    best, size = (k, v), len(got)
            if best is not None:
                out += self._get(by_value, best)
        if self.by_pair:
            # a row filed under two one-value literals contains s only if s has both, with those values
            by_pair = self.by_pair
            for pair in s.pairs:
                if pair in by_pair:
                    out += self._get(by_pair, pair)
        return out


class Pool:
    """`RegionUnion`, with the same entries in the same order and the same answers, but with its searches for
    entries containing, inside, or joinable with a conjunction narrowed by indexes instead of a scan.
    Entries are numbered in arrival order; an index may hold numbers of entries since removed."""

    def __init__(self, table: Table, rarity: Rarity) -> None:
        self.table = table
        self.items: dict[int, tuple[Row, frozenset[int]]] = {}  # in list order
        self.next = 0
        self.sup = Supersets(rarity, self.items)    # entries that may contain a row
        self.values: dict[tuple, list[int]] = {}      # (fact, value) of every positive literal → entries
        self.exact: dict[tuple, list[int]] = {}       # (fact, interned set) of every literal → entries

    def _live(self, table: dict, key: object) -> list[int]:
        got = table.get(key)
        if not got:
            return []
        alive = [q for q in got if q in self.items]
        if len(alive) != len(got):
            table[key] = alive
        return alive

    def _containing(self, row: Row) -> list[int]:
        """Numbers (ascending) of the entries c with ``row`` inside c."""
        within = self.table.within
        items = self.items
        return sorted(q for q in self.sup.find(row) if within(row, items[q][0]))

    def _inside(self, row: Row) -> Iterable[int]:
        """Numbers of the entries that may lie inside ``row`` (every entry that does, and maybe others)."""
        if row.eqs:  # an entry inside row allows only v on k, too
            return self._live(self.values, min(row.eqs, key=lambda kv: len(self.values.get(kv, ()))))
        if row.pos:  # an entry inside row has a positive literal on k, with values in W
            k, vals = min(row.pos, key=lambda kv: sum(len(self.values.get((kv[0], v), ())) for v in kv[1]))
            return {q for v in vals for q in self._live(self.values, (k, v))}
        return list(self.items)

    def _joinable(self, row: Row) -> list[int]:
        """Numbers (ascending) of the entries that may join with ``row``: after absorption, only an entry
        testing the same facts and differing in one can, and it then shares one of any two of row's sets."""
        if len(row.ids) < 2 or len(row.ids) != len(row.keys):
            return list(self.items)
        exact = self.exact
        a = b = None
        na = nb = 0
        for kv in row.ids.items():
            n = len(exact.get(kv, ()))
            if a is None or n < na:
                a, na, b, nb = kv, n, a, na
            elif b is None or n < nb:
                b, nb = kv, n
        got = self._live(exact, a)
        more = self._live(exact, b)
        return sorted(set(got).union(more)) if got and more else got or more

    def add(self, row: Row, origin: frozenset[int]) -> None:
        table = self.table
        items = self.items
        within = table.within
        while True:
            if any(within(row, items[q][0]) for q in self.sup.find(row)):
                return
            for q in list(self._inside(row)):
                if q in items and within(items[q][0], row):
                    del items[q]  # index entries go stale and are skipped (and pruned) when next met
            for q in self._joinable(row):
                c, o = items[q]
                if c.keys != row.keys:
                    continue
                joined = join(row.conj, c.conj)
                if joined is not None:
                    del items[q]
                    row, origin = table.row(joined), origin | o
                    break
            else:
                if len(items) < DNF_LIMIT:
                    self._insert(row, origin)
                return

    def _insert(self, row: Row, origin: frozenset[int]) -> None:
        q = self.next
        self.next += 1
        self.items[q] = (row, origin)
        self.sup.add(row, q)
        for k, vals in row.pos:
            for v in vals:
                self.values.setdefault((k, v), []).append(q)
        for kv in row.ids.items():
            self.exact.setdefault(kv, []).append(q)

    def cover(self, row: Row) -> frozenset[int] | None:
        got = self._containing(row)
        return self.items[got[0]][1] if got else None


Finding = tuple  # ("W191", route, []) or ("W190", route, [earlier routes that together catch it])


def route_dnfs(routes: list[A.Route]) -> list[tuple[A.Route, list[Region] | None]]:
    """The routes in the order they are tried (the first `default` last, later ones ignored), each with its
    condition in normal form (None when too large to decide)."""
    default = [r for r in routes if r.is_default]
    out = []
    for r in [r for r in routes if not r.is_default] + default[:1]:
        try:
            dnf = regions_of(r.when)
        except Undecided:
            dnf = None
        out.append((r, dnf))
    return out


def shadow_reference(routes: list[A.Route]) -> list[Finding]:
    """Routes that can never match, by the plain pairwise definition (quadratic in the number of routes).
    `shadow_findings` gives the same answer fast; this one stays as its specification, for the tests."""
    out: list[Finding] = []
    earlier: list[tuple[A.Route, list[Region] | None]] = []
    union = RegionUnion()
    for r, dnf in route_dnfs(routes):
        if dnf == [] and not r.is_default:
            out.append(("W191", r, []))
        elif dnf is not None and earlier:
            shadows = [er for er, edn in earlier if edn and all(any(implies(s, e) for e in edn) for s in dnf)]
            if shadows:
                out.append(("W190", r, shadows))
            else:
                used: set[int] = set()
                for s in dnf:
                    cover = union.cover(s)
                    if cover is None:
                        break
                    used |= cover
                else:
                    out.append(("W190", r, [earlier[i][0] for i in sorted(used)]))
        if dnf:
            for c in dnf:
                union.add(c, frozenset({len(earlier)}))
        earlier.append((r, dnf))
    return out


def shadow_findings(routes: list[A.Route]) -> list[Finding]:
    """The same findings as `shadow_reference`, in near-linear time (see "shadowing, indexed" above)."""
    entries = route_dnfs(routes)
    table = Table()
    rows: list[list[Row] | None] = [
        None if dnf is None else [table.row(c, i) for c in dnf] for i, (_, dnf) in enumerate(entries)]
    rarity = Rarity(row for rs in rows if rs for row in rs)
    index = Supersets(rarity)
    pool = Pool(table, rarity)
    within = table.within
    out: list[Finding] = []
    for i, (r, dnf) in enumerate(entries):
        srows = rows[i]
        if dnf == [] and not r.is_default:
            out.append(("W191", r, []))
        elif srows is not None and i > 0:
            if not srows:  # never true (only the default gets here): every earlier route that can match
                owners = [j for j in range(i) if rows[j]]
            else:
                first = srows[0]
                owners = sorted({e.owner for e in index.find(first) if within(first, e)})
                owners = [j for j in owners
                          if all(any(within(s, e) for e in rows[j]) for s in srows)]  # type: ignore[union-attr]
            if owners:
                out.append(("W190", r, [entries[j][0] for j in owners]))
            else:
                used: set[int] = set()
                for s in srows:
                    cover = pool.cover(s)
                    if cover is None:
                        break
                    used |= cover
                else:
                    out.append(("W190", r, [entries[j][0] for j in sorted(used)]))
        if srows:
            for s in srows:
                pool.add(s, frozenset({i}))
            for s in srows:
                index.add(s, s)
    return out


class Meets:
    """Conditions (in normal form, None when undecided) with an item each, in arrival order. ``meeting(d)``
    yields, in that order, the items whose condition is not disjoint from ``d`` (``not disjoint``): a row
    is filed under one of its positive literals, so that a row holding a value set disjoint from it on that
    fact is never met."""

    def __init__(self) -> None:
        self.items: list[tuple[list[Region] | None, object]] = []
        self.by_value: dict[tuple, list[tuple[int, Region]]] = {}  # (fact, value) → (item, row)
        self.by_fact: dict[FactKey, list[tuple[int, Region]]] = {}    # fact → every (item, row) filed under it
        self.open: list[tuple[int, Region]] = []                   # rows with no positive literal
        self.undecided: list[int] = []

    def add(self, dnf: list[Region] | None, item: object) -> None:
        i = len(self.items)
        self.items.append((dnf, item))
        if dnf is None:
            self.undecided.append(i)
            return
        for row in dnf:
            pos = [(k, s.vals) for k, s in row.items() if isinstance(s, Discrete) and not s.co]
            if not pos:
                self.open.append((i, row))
                continue
            k, vals = min(pos, key=lambda kv: len(kv[1]))
            self.by_fact.setdefault(k, []).append((i, row))
            for v in vals:
                self.by_value.setdefault((k, v), []).append((i, row))

    def meeting(self, dnf: list[Region] | None) -> Iterator[object]:
        if dnf is None:
            found = set(range(len(self.items)))
        else:
            found = set(self.undecided)
            for y in dnf:
                cands = list(self.open)
                for k, filed in self.by_fact.items():
                    s = y.get(k)
                    if isinstance(s, Discrete) and not s.co:  # rows filed under k meet y only on y's values
                        cands += {id(x): (i, x) for v in s.vals for i, x in self.by_value.get((k, v), ())}.values()
                    else:
                        cands += filed
                found.update(i for i, x in cands if i not in found and meet(x, y) is not None)
        for i in sorted(found):
            yield self.items[i][1]
