"""The Redis store: replicas share budgets and rate limits through Redis, one script call per operation.

A reservation is one EVALSHA (redis-py's Script: EVALSHA, reloading on NOSCRIPT after a Redis restart):
the script sweeps a few expired reservations, reads every budget counter and GCRA state the request
touches, applies the same all-or-none rule as gateway/limits/core.py `evaluate`, and writes — atomically,
as Redis runs one script at a time. Its clock is Redis's (TIME), so replicas with skewed clocks share one
rate-limit timeline. Settling is one more script call, off the request path.

Keys (under the prefix, default ``open-router:``):

    <p><budget key>      hash s (spent, nano) r (reserved, nano); expires after its period (+ grace)
    <p><rate key>        string: GCRA tat (seconds, Redis time); expires when idle
    <p>holds             zset rid → expiry (Redis time): reservations whose request may have vanished
    <p>hold:<rid>        hash a (amount, nano) k (budget keys, newline separated)
    <p>alert:<id>        SET NX EX: an alert already sent

A missing budget counter (a new period, a Redis that came back empty) is answered "seed" with its keys;
the admission seeds it from the ledger and asks again. Standalone Redis (the sweep touches hold keys
it was not passed, which Redis Cluster would refuse).
"""
from __future__ import annotations

from typing import Any, Iterable

from .core import BUDGET, OK, RATE, SEED, Hold, Result, StoreError

RESERVE = r"""
local p = ARGV[1]
local nb, nr, nopt = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
-- sweep a few expired reservations
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 8)
for _, rid in ipairs(old) do
  local hk = p .. 'hold:' .. rid
  local a = tonumber(redis.call('HGET', hk, 'a') or '0')
  local ks = redis.call('HGET', hk, 'k')
  if ks and a ~= 0 then
    for k in string.gmatch(ks, '[^\n]+') do
      if redis.call('EXISTS', k) == 1 then redis.call('HINCRBY', k, 'r', -a) end
    end
  end
  redis.call('DEL', hk)
  redis.call('ZREM', KEYS[1], rid)
end
local i = 5
local amounts = {}
for o = 1, nopt do amounts[o] = tonumber(ARGV[i]); i = i + 1 end
local levels, blocks, steps = {}, {}, {}
local missing = {}
for b = 1, nb do
  local k = KEYS[2 + b]
  local v = redis.call('HMGET', k, 's', 'r')
  if not v[1] then missing[#missing + 1] = k else levels[b] = tonumber(v[1]) + tonumber(v[2] or '0') end
  blocks[b] = tonumber(ARGV[i]); i = i + 1
  local ns = tonumber(ARGV[i]); i = i + 1
  steps[b] = {}
  for s = 1, ns do steps[b][s] = {tonumber(ARGV[i]), tonumber(ARGV[i + 1])}; i = i + 2 end
end
if #missing > 0 then
  local out = {'seed', 0, 0, '0'}
  for _, k in ipairs(missing) do out[#out + 1] = k end
  return out
end
local views, tats = {}, {}
local refused = nil
for r = 1, nr do
  local k = KEYS[2 + nb + r]
  local interval, cost, limit = tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]); i = i + 3
  local tat = tonumber(redis.call('GET', k) or '0')
  local base = tat
  if base < now then base = now end
  local new = base + cost * interval
  local function rem(x)
    local n = math.floor((60 - (x - now)) / interval + 1e-9)
    if n < 0 then n = 0 end
    if n > limit then n = limit end
    return n
  end
  if new - now <= 60 + 1e-9 then
    tats[r] = new
    views[#views + 1] = rem(new); views[#views + 1] = string.format('%.6f', new - now)
  else
    views[#views + 1] = rem(base); views[#views + 1] = string.format('%.6f', base - now)
    if not refused then refused = {r - 1, new - now - 60} end
  end
end
local ttl, rid = tonumber(ARGV[i]), ARGV[i + 1]
if refused then
  local out = {'rate', 0, refused[1], string.format('%.6f', refused[2])}
  for _, v in ipairs(views) do out[#out + 1] = v end
  return out
end
local option = 0
if nb > 0 then
  for b = 1, nb do
    local chosen = 0
    for _, st in ipairs(steps[b]) do
      if levels[b] + amounts[1] > st[1] then chosen = st[2] end
    end
    if chosen ~= 0 then option = chosen; break end
  end
end
local amount = amounts[option + 1] or 0
for b = 1, nb do
  if blocks[b] >= 0 and levels[b] + amount > blocks[b] then
    local out = {'budget', option, b - 1, '0'}
    for _, v in ipairs(views) do out[#out + 1] = v end
    return out
  end
end
for r = 1, nr do
  local k = KEYS[2 + nb + r]
  redis.call('SET', k, string.format('%.6f', tats[r]), 'EX', 120)
end
if nb > 0 then
  local ks = {}
  for b = 1, nb do
    redis.call('HINCRBY', KEYS[2 + b], 'r', amount)
    ks[#ks + 1] = KEYS[2 + b]
  end
  redis.call('HSET', KEYS[2], 'a', amount, 'k', table.concat(ks, '\n'))
  redis.call('EXPIRE', KEYS[2], math.ceil(ttl) + 60)
  redis.call('ZADD', KEYS[1], now + ttl, rid)
end
local out = {'ok', option, -1, '0'}
for _, v in ipairs(views) do out[#out + 1] = v end
return out
"""

SETTLE = r"""
local nb, nr = tonumber(ARGV[1]), tonumber(ARGV[2])
local rid, amount, cost = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local held = redis.call('ZREM', KEYS[1], rid)
redis.call('DEL', KEYS[2])
local out = {}
for b = 1, nb do
  local k = KEYS[2 + b]
  if redis.call('EXISTS', k) == 1 then
    if held == 1 and amount ~= 0 then redis.call('HINCRBY', k, 'r', -amount) end
    out[#out + 1] = k
    out[#out + 1] = redis.call('HINCRBY', k, 's', cost)
  end
end
for r = 1, nr do
  local k = KEYS[2 + nb + r]
  local tat = tonumber(redis.call('GET', k) or 'nil')
  if tat then
    local new = tat + tonumber(ARGV[5 + r])
    if new < now then new = now end
    redis.call('SET', k, string.format('%.6f', new), 'EX', 120)
  end
end
return out
"""

SEED_SCRIPT = r"""
local cur = redis.call('HGET', KEYS[1], 's')
if not cur or tonumber(cur) < tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], 's', ARGV[1]) end
if not redis.call('HGET', KEYS[1], 'r') then redis.call('HSET', KEYS[1], 'r', 0) end
redis.call('EXPIREAT', KEYS[1], math.ceil(tonumber(ARGV[2])))
return 1
"""


class RedisStore:
    kind = "redis"
    shared = True  # every replica using this Redis

    def __init__(self, url: str, prefix: str = "open-router:", *, timeout: float = 1.0) -> None:
        import redis.asyncio as aioredis

        self.url = url
        self.prefix = prefix
        self.healthy = True
        self.r = aioredis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout,
                                   decode_responses=True)
        self._reserve = self.r.register_script(RESERVE)
        self._settle = self.r.register_script(SETTLE)
        self._seed = self.r.register_script(SEED_SCRIPT)

    async def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        from redis.exceptions import RedisError

        try:
            return await script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise StoreError(f"Redis: {type(exc).__name__}") from None

    async def reserve(self, h: Hold, now: float) -> Result:
        p = self.prefix
        keys = [p + "holds", p + "hold:" + h.rid]
        keys += [p + line.key for line in h.budgets]
        keys += [p + line.key for line in h.rates]
        args: list[Any] = [p, len(h.budgets), len(h.rates), len(h.amounts), *h.amounts]
        for line in h.budgets:
            args += [-1 if line.block is None else line.block, len(line.steps)]
            for cap, opt in line.steps:
                args += [cap, opt]
        for line in h.rates:
            args += [repr(line.interval), line.cost, line.limit]
        args += [repr(h.expires - now), h.rid]
        out = await self._call(self._reserve, keys, args)
        status = {"ok": OK, "rate": RATE, "budget": BUDGET, "seed": SEED}[out[0]]
        if status == SEED:
            n = len(p)
            return Result(SEED, missing=[k[n:] for k in out[4:]])
        rest = out[4:]
        views = [(int(rest[j]), float(rest[j + 1])) for j in range(0, len(rest), 2)]
        return Result(status, option=int(out[1]), index=int(out[2]), retry_after=float(out[3]), rates=views)

    async def settle(self, h: Hold, amount: int, cost: int, tokens: int | None, now: float) -> dict[str, int]:
        p = self.prefix
        toks = [line for line in h.rates if line.unit == "tokens" and tokens is not None and tokens != line.cost]
        keys = [p + "holds", p + "hold:" + h.rid] + [p + line.key for line in h.budgets] + [p + line.key for line in toks]
        args: list[Any] = [len(h.budgets), len(toks), h.rid, amount, cost]
        args += [repr((tokens - line.cost) * line.interval) for line in toks]  # type: ignore[operator]
        out = await self._call(self._settle, keys, args)
        n = len(p)
        return {out[j][n:]: int(out[j + 1]) for j in range(0, len(out), 2)}

    async def seed(self, key: str, spent: int, expires: float) -> None:
        await self._call(self._seed, [self.prefix + key], [spent, repr(expires)])

    async def claim(self, key: str, ttl: float) -> bool:
        from redis.exceptions import RedisError

        try:
            return bool(await self.r.set(self.prefix + key, "1", nx=True, ex=max(1, int(ttl))))
        except (RedisError, OSError) as exc:
            raise StoreError(f"Redis: {type(exc).__name__}") from None

    async def status(self, keys: Iterable[str]) -> dict[str, tuple[int, int]]:
        from redis.exceptions import RedisError

        keys = list(keys)
        try:
            async with self.r.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hmget(self.prefix + key, "s", "r")
                rows = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise StoreError(f"Redis: {type(exc).__name__}") from None
        return {k: (int(v[0]), int(v[1] or 0)) for k, v in zip(keys, rows) if v[0] is not None}

    async def ping(self) -> None:
        from redis.exceptions import RedisError

        try:
            await self.r.ping()
        except (RedisError, OSError) as exc:
            raise StoreError(f"Redis: {type(exc).__name__}") from None

    async def aclose(self) -> None:
        try:
            await self.r.aclose()
        except Exception:
            pass


__all__ = ["RedisStore"]
