// The Lua scripts that make every quota decision atomic in Redis (one round trip per admission).
// Amounts travel as decimal strings and are added with HINCRBY (exact 64-bit integers); only the
// comparisons run in Lua's doubles, with a margin of 4096 nano-USD once a figure passes 2^52 (about
// $4.5M), so that rounding can refuse a request by a few nano-dollars but never overspend.
//
// Keys (P = SURETY_REDIS_PREFIX): P..'m:a:<account>' and P..'m:k:<key>:<period>' are mirrors —
//   base  the figure storage holds (account: paid + granted + credit line − durable holds;
//         key spend: minus what the period has spent), written only under the account's lock
//   held  holds of requests in flight, on every instance (h:<instance> each instance's share)
//   unfl  charges settled but not yet committed by a writer (u:<instance> each instance's share)
//   at    when base was read (ms)
// room = limit + base − held − unfl (limit 0 for an account). P..'cc:<key>' counts requests in
// flight (n; c:<instance>). P..'wz:<subject>' / P..'wh:<subject>' are a rate window: the sorted
// set of admitted requests in the last minute and their token weights ('=' their sum).
// Allowances (cluster/allowances.ts): an instance may hold more than its requests need, as a
// standing share of `held` (or of `n`), to admit locally; `lz` sums the unused part each instance
// last reported (`l:<instance>`), and `rc` is set when a refusal recalls them. A rate-window lease
// is one entry 'L:<instance>:<n>' standing for several requests ('n:'..member their count; '+' sums
// the counts beyond one).
// P..'inst:<id>:keys' lists the hashes an instance has a share in, so that its shares can be taken
// out (reaped) when it is gone; P..'insts' lists those instances.

const COMMON = `
local BIG = 4503599627370496
local function num(v) return tonumber(v) or 0 end
local function neg(s) if string.sub(s, 1, 1) == '-' then return string.sub(s, 2) end return '-' .. s end
local function nowMs() local t = redis.call('TIME') return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) end
-- Adds d (a decimal string) to a total and to this instance's share of it.
local function add(key, total, share, d)
  if d == '0' then return end
  redis.call('HINCRBY', key, total, d)
  if redis.call('HINCRBY', key, share, d) == 0 then redis.call('HDEL', key, share) end
end
-- Takes d (a positive decimal string) off a total, never more than this instance's share: a share
-- already taken out by the reaper is not taken twice.
local function take(key, total, share, d)
  if d == '0' then return end
  local cur = redis.call('HGET', key, share)
  if not cur then return end
  if num(cur) < num(d) then d = cur end
  redis.call('HINCRBY', key, total, neg(d))
  if redis.call('HINCRBY', key, share, neg(d)) <= 0 then redis.call('HDEL', key, share) end
end
-- Adds a Lua number to a hash field (never '-0': Redis reads it as no integer).
local function incr(h, f, d) if d ~= 0 then redis.call('HINCRBY', h, f, string.format('%.0f', d)) end end
local function prune(z, h, now, win)
  local cut = now - win
  local old = redis.call('ZRANGEBYSCORE', z, '-inf', cut)
  if #old == 0 then return end
  local gone, extra = 0, 0
  for i = 1, #old do
    gone = gone + num(redis.call('HGET', h, old[i]))
    -- A lease entry (allowances.ts) stands for several requests: its count beyond one leaves too.
    if string.sub(old[i], 1, 2) == 'L:' then
      extra = extra + num(redis.call('HGET', h, 'n:' .. old[i])) - 1
      redis.call('HDEL', h, 'n:' .. old[i])
    end
  end
  for i = 1, #old, 1000 do redis.call('HDEL', h, unpack(old, i, math.min(i + 999, #old))) end
  incr(h, '=', -gone)
  incr(h, '+', -extra)
  redis.call('ZREMRANGEBYSCORE', z, '-inf', cut)
end
local function room(m, limit)
  local v = redis.call('HMGET', m, 'base', 'held', 'unfl', 'at')
  if not v[1] then return nil, 0 end
  local base, held, unfl = num(v[1]), num(v[2]), num(v[3])
  local r = limit + base - held - unfl
  if math.abs(base) + math.abs(held) + math.abs(unfl) + math.abs(limit) >= BIG then r = r - 4096 end
  return r, num(v[4])
end
-- Sets this instance's share of a total to v (absolute, idempotent).
local function set(key, total, share, v)
  local cur = redis.call('HGET', key, share)
  if cur and cur ~= '0' then redis.call('HINCRBY', key, total, neg(cur)) end
  redis.call('HDEL', key, share)
  add(key, total, share, v)
end
`;

/** KEYS: fence, inst-keys, key window z/h, account window z/h, cc, account mirror, spend mirrors…
 *  ARGV: inst, request id, tokens, window ms, key rpm, key tpm, account rpm, account tpm,
 *        concurrency (-1: none), hold, refresh ms, mirror ttl ms, then one limit per spend mirror. */
export const ADMIT = `${COMMON}
local function wait(z, h, now, win, rpm, tpm, tokens)
  if rpm <= 0 and tpm <= 0 then return 0 end
  prune(z, h, now, win)
  local plus = num(redis.call('HGET', h, '+'))
  local n = redis.call('ZCARD', z) + plus
  local sum = num(redis.call('HGET', h, '='))
  local need = math.min(tokens, tpm)
  local overN = rpm > 0 and n >= rpm
  local overT = tpm > 0 and (sum >= tpm or sum + need > tpm)
  if not overN and not overT then return 0 end
  if plus == 0 and not overT then
    local e = redis.call('ZRANGE', z, n - rpm, n - rpm, 'WITHSCORES')
    return math.max(1, num(e[2]) + win - now)
  end
  -- The wait until enough of the oldest leave (lease entries count for their requests).
  local all = redis.call('ZRANGE', z, 0, -1, 'WITHSCORES')
  for i = 1, #all, 2 do
    local c = 1
    if string.sub(all[i], 1, 2) == 'L:' then c = num(redis.call('HGET', h, 'n:' .. all[i])) end
    n = n - c
    sum = sum - num(redis.call('HGET', h, all[i]))
    if (rpm <= 0 or n < rpm) and (tpm <= 0 or (sum < tpm and sum + need <= tpm)) then return math.max(1, num(all[i + 1]) + win - now) end
  end
  return win
end
local function enter(z, h, now, win, id, tokens)
  redis.call('ZADD', z, now, id)
  redis.call('HSET', h, id, tokens)
  redis.call('HINCRBY', h, '=', tokens)
  redis.call('PEXPIRE', z, win + 1000)
  redis.call('PEXPIRE', h, win + 1000)
end

local fenced = redis.call('PTTL', KEYS[1])
if fenced > 0 or fenced == -1 then return {'fenced', fenced} end
local inst, id, tokens, win = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local krpm, ktpm, arpm, atpm = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local cclimit, hold, refresh, ttl = tonumber(ARGV[9]), ARGV[10], tonumber(ARGV[11]), tonumber(ARGV[12])
local now = nowMs()
local w = wait(KEYS[3], KEYS[4], now, win, krpm, ktpm, tokens)
if w > 0 then return {'rate', 'key', w} end
w = wait(KEYS[5], KEYS[6], now, win, arpm, atpm, tokens)
if w > 0 then return {'rate', 'account', w} end
-- A refusal while other instances hold unused allowances (lz) recalls them (rc): the caller retries.
local function recall(k) if num(redis.call('HGET', k, 'lz')) > 0 then redis.call('HSET', k, 'rc', now) return true end return false end
if cclimit >= 0 and num(redis.call('HGET', KEYS[7], 'n')) >= cclimit then
  if recall(KEYS[7]) then return {'recall', 'concurrency'} end
  return {'concurrency'}
end
local missing = {'load'}
local stale = {'ok'}
local limits = {}
for i = 9, #KEYS do limits[i] = tonumber(ARGV[12 + i - 8]) end
limits[8] = 0
for i = 8, #KEYS do
  local r, at = room(KEYS[i], limits[i])
  if r == nil then missing[#missing + 1] = KEYS[i] elseif now - at > refresh then stale[#stale + 1] = KEYS[i] end
end
if #missing > 1 then return missing end
for i = 9, #KEYS do
  if room(KEYS[i], limits[i]) < num(hold) then
    if recall(KEYS[i]) then return {'recall', 'key_limit', i - 8} end
    return {'key_limit', i - 8}
  end
end
local r = room(KEYS[8], 0)
if r < num(hold) then
  if recall(KEYS[8]) then return {'recall', 'balance', string.format('%.0f', r)} end
  return {'balance', string.format('%.0f', r)}
end
if krpm > 0 or ktpm > 0 then enter(KEYS[3], KEYS[4], now, win, id, tokens) end
if arpm > 0 or atpm > 0 then enter(KEYS[5], KEYS[6], now, win, id, tokens) end
if cclimit >= 0 then
  add(KEYS[7], 'n', 'c:' .. inst, '1')
  redis.call('PEXPIRE', KEYS[7], ttl)
  redis.call('SADD', KEYS[2], KEYS[7])
end
for i = 8, #KEYS do
  add(KEYS[i], 'held', 'h:' .. inst, hold)
  redis.call('PEXPIRE', KEYS[i], ttl)
  redis.call('SADD', KEYS[2], KEYS[i])
end
return stale
`;

/** A request ended. KEYS: key window z/h, account window z/h, cc, mirrors…
 *  ARGV: inst, request id, tokens delta, release cc (1/0), then per mirror: hold given back, charge added. */
export const RELEASE = `${COMMON}
local inst, id, dt = ARGV[1], ARGV[2], tonumber(ARGV[3])
if dt ~= 0 then
  for _, p in ipairs({{1, 2}, {3, 4}}) do
    if redis.call('ZSCORE', KEYS[p[1]], id) then
      redis.call('HINCRBY', KEYS[p[2]], id, dt)
      redis.call('HINCRBY', KEYS[p[2]], '=', dt)
    end
  end
end
if ARGV[4] == '1' then take(KEYS[5], 'n', 'c:' .. inst, '1') end
for i = 6, #KEYS do
  local j = 5 + (i - 6) * 2
  take(KEYS[i], 'held', 'h:' .. inst, ARGV[j])
  add(KEYS[i], 'unfl', 'u:' .. inst, ARGV[j + 1])
end
return 1
`;

/** An instance's allowances (cluster/allowances.ts) topped up, returned and finalised in one run.
 *  KEYS: fence, inst-keys, then each op's keys. ARGV: inst, abundance factor K, refresh ms, ttl ms,
 *  window ms, lease life ms, then the ops, each led by its kind:
 *    'm' (a mirror; 1 key): returned, unused kept, wanted, least worth granting, limit
 *    'c' (concurrency; 1 key): returned, unused kept, wanted, least worth granting, limit
 *    'w' (a rate window; keys z, h): rpm, tpm, new entry ('' for none), its count, its tokens,
 *        entries to finalise (n, then member, count used, tokens used each), corrections (n, then
 *        member, tokens each).
 *  A grant is made only while the figure is abundant: room (or free slots, or the window's free
 *  requests and tokens) at least K times the grant; never while fenced or recalled.
 *  Returns per op: the grant ('0' none; for 'w' '1' and the entry's end), and a flag: 'r' give back
 *  what is unused (recalled, or the room went below zero), 's' the base is stale, 'l' it is missing. */
export const RENEW = `${COMMON}
local inst, K, refresh, ttl, win, life = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local now = nowMs()
local fenced = redis.call('PTTL', KEYS[1])
fenced = fenced > 0 or fenced == -1
local out = {}
local ki, ai = 3, 7
local function recalled(k)
  local rc = num(redis.call('HGET', k, 'rc'))
  return rc > 0 and now - rc < 5000
end
while ai <= #ARGV do
  local kind = ARGV[ai]
  if kind == 'm' or kind == 'c' then
    local k = KEYS[ki]
    local ret, kept, want, least, limit = ARGV[ai + 1], num(ARGV[ai + 2]), num(ARGV[ai + 3]), num(ARGV[ai + 4]), num(ARGV[ai + 5])
    ki, ai = ki + 1, ai + 6
    local free, flag = nil, ''
    if kind == 'm' then
      take(k, 'held', 'h:' .. inst, ret)
      local at
      free, at = room(k, limit)
      if free == nil then flag = 'l' elseif now - at > refresh then flag = 's' end
    else
      take(k, 'n', 'c:' .. inst, ret)
      free = limit - num(redis.call('HGET', k, 'n'))
    end
    if recalled(k) or (free ~= nil and free < 0) then flag = 'r' end
    local g = 0
    if free ~= nil and flag ~= 'r' and not fenced and want > 0 then
      g = math.min(want, math.floor(free / K))
      if g < least then g = 0 end
    end
    local gs = string.format('%.0f', g)
    if g > 0 then add(k, kind == 'm' and 'held' or 'n', (kind == 'm' and 'h:' or 'c:') .. inst, gs) end
    if redis.call('EXISTS', k) == 1 then
      set(k, 'lz', 'l:' .. inst, string.format('%.0f', kept + g))
      redis.call('PEXPIRE', k, ttl)
      redis.call('SADD', KEYS[2], k)
    end
    out[#out + 1] = gs
    out[#out + 1] = flag
  else
    local z, h = KEYS[ki], KEYS[ki + 1]
    local rpm, tpm, member, slots, tokens = tonumber(ARGV[ai + 1]), tonumber(ARGV[ai + 2]), ARGV[ai + 3], tonumber(ARGV[ai + 4]), tonumber(ARGV[ai + 5])
    ki, ai = ki + 2, ai + 6
    prune(z, h, now, win)
    local nf = tonumber(ARGV[ai])
    ai = ai + 1
    for _ = 1, nf do
      local m, un, ut = ARGV[ai], tonumber(ARGV[ai + 1]), tonumber(ARGV[ai + 2])
      ai = ai + 3
      if redis.call('ZSCORE', z, m) then
        local on, ot = num(redis.call('HGET', h, 'n:' .. m)), num(redis.call('HGET', h, m))
        if un <= 0 then
          redis.call('ZREM', z, m)
          redis.call('HDEL', h, m, 'n:' .. m)
          incr(h, '+', 1 - on)
          incr(h, '=', -ot)
        else
          redis.call('HSET', h, 'n:' .. m, un, m, ut)
          incr(h, '+', un - on)
          incr(h, '=', ut - ot)
        end
      end
    end
    local nc = tonumber(ARGV[ai])
    ai = ai + 1
    for _ = 1, nc do
      local m, d = ARGV[ai], tonumber(ARGV[ai + 1])
      ai = ai + 2
      if redis.call('ZSCORE', z, m) then
        incr(h, m, d)
        incr(h, '=', d)
      end
    end
    local g, e = '0', 0
    if member ~= '' and not fenced then
      local n = redis.call('ZCARD', z) + num(redis.call('HGET', h, '+'))
      local sum = num(redis.call('HGET', h, '='))
      if (rpm <= 0 or rpm - n >= K * slots) and (tpm <= 0 or tpm - sum >= K * tokens) then
        -- Scored at the lease's end: each request admitted under it counts at least a full window.
        e = now + life
        redis.call('ZADD', z, e, member)
        redis.call('HSET', h, member, tokens, 'n:' .. member, slots)
        incr(h, '+', slots - 1)
        incr(h, '=', tokens)
        g = '1'
      end
    end
    if redis.call('EXISTS', z) == 1 then
      redis.call('PEXPIRE', z, win + life + 1000)
      redis.call('PEXPIRE', h, win + life + 1000)
    end
    out[#out + 1] = g
    out[#out + 1] = tostring(e)
  end
end
return out
`;

/** A writer's batch is committing (called under the accounts' locks): its charges leave unfl (or this
 *  instance's allowance, in held) for base. KEYS: mirrors; ARGV: inst, then per mirror: the amount,
 *  the part of it taken from held, the part taken from unfl. */
export const COMMIT = `${COMMON}
local inst = ARGV[1]
for i = 1, #KEYS do
  local j = 2 + (i - 1) * 3
  if redis.call('HEXISTS', KEYS[i], 'base') == 1 then redis.call('HINCRBY', KEYS[i], 'base', neg(ARGV[j])) end
  take(KEYS[i], 'held', 'h:' .. inst, ARGV[j + 1])
  take(KEYS[i], 'unfl', 'u:' .. inst, ARGV[j + 2])
end
return 1
`;

/** This instance's shares set to what it knows (after a failure or a Redis restart).
 *  KEYS: inst-keys set, then hashes; ARGV: inst, then per hash: kind (m/c), invalidate (1/0), held or
 *  n, unfl, unused allowance (lz). */
export const SYNC = `${COMMON}
local inst = ARGV[1]
for i = 2, #KEYS do
  local j = 2 + (i - 2) * 5
  local k = KEYS[i]
  if ARGV[j] == 'c' then set(k, 'n', 'c:' .. inst, ARGV[j + 2])
  else
    set(k, 'held', 'h:' .. inst, ARGV[j + 2])
    set(k, 'unfl', 'u:' .. inst, ARGV[j + 3])
    if ARGV[j + 1] == '1' then redis.call('HDEL', k, 'base') end
  end
  set(k, 'lz', 'l:' .. inst, ARGV[j + 4])
  if redis.call('EXISTS', k) == 1 then redis.call('SADD', KEYS[1], k) end
end
return 1
`;

/** Takes a gone instance's shares out of every hash it had one in; nothing while it is alive.
 *  KEYS: insts set, its liveness key, its inst-keys set; ARGV: inst. Mirrors lose their base, since
 *  the instance may have committed charges it never reported. */
export const REAP = `${COMMON}
local inst = ARGV[1]
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local keys = redis.call('SMEMBERS', KEYS[3])
for _, k in ipairs(keys) do
  local had = false
  for _, f in ipairs({{'h:', 'held'}, {'u:', 'unfl'}, {'c:', 'n'}, {'l:', 'lz'}}) do
    local v = redis.call('HGET', k, f[1] .. inst)
    if v then
      if v ~= '0' then redis.call('HINCRBY', k, f[2], neg(v)) end
      redis.call('HDEL', k, f[1] .. inst)
      if f[2] == 'held' or f[2] == 'unfl' then had = true end
    end
  end
  if had then redis.call('HDEL', k, 'base') end
end
redis.call('DEL', KEYS[3])
redis.call('SREM', KEYS[1], inst)
return #keys + 1
`;

/** Failures within a window (throttles). KEYS: the subject's sorted set; ARGV: window ms, keep (0: only read), id.
 *  Returns the times of the failures still in the window, oldest first. */
export const FAILURES = `${COMMON}
local now = nowMs()
local win, keep = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - win)
if keep > 0 then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  local n = redis.call('ZCARD', KEYS[1])
  if n > keep then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - keep - 1) end
  redis.call('PEXPIRE', KEYS[1], win)
end
local r = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local out = {now}
for i = 2, #r, 2 do out[#out + 1] = tonumber(r[i]) end
return out
`;
