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
local function prune(z, h, now, win)
  local cut = now - win
  local old = redis.call('ZRANGEBYSCORE', z, '-inf', cut)
  if #old == 0 then return end
  local gone = 0
  for i = 1, #old do gone = gone + num(redis.call('HGET', h, old[i])) end
  for i = 1, #old, 1000 do redis.call('HDEL', h, unpack(old, i, math.min(i + 999, #old))) end
  redis.call('HINCRBY', h, '=', -gone)
  redis.call('ZREMRANGEBYSCORE', z, '-inf', cut)
end
`;

/** KEYS: fence, inst-keys, key window z/h, account window z/h, cc, account mirror, spend mirrors…
 *  ARGV: inst, request id, tokens, window ms, key rpm, key tpm, account rpm, account tpm,
 *        concurrency (-1: none), hold, refresh ms, mirror ttl ms, then one limit per spend mirror. */
export const ADMIT = `${COMMON}
local function wait(z, h, now, win, rpm, tpm, tokens)
  if rpm <= 0 and tpm <= 0 then return 0 end
  prune(z, h, now, win)
  local n = redis.call('ZCARD', z)
  if rpm > 0 and n >= rpm then
    local e = redis.call('ZRANGE', z, n - rpm, n - rpm, 'WITHSCORES')
    return math.max(1, num(e[2]) + win - now)
  end
  if tpm > 0 then
    local sum = num(redis.call('HGET', h, '='))
    local need = math.min(tokens, tpm)
    if sum >= tpm or sum + need > tpm then
      local all = redis.call('ZRANGE', z, 0, -1, 'WITHSCORES')
      for i = 1, #all, 2 do
        sum = sum - num(redis.call('HGET', h, all[i]))
        if sum < tpm and sum + need <= tpm then return math.max(1, num(all[i + 1]) + win - now) end
      end
      return win
    end
  end
  return 0
end
local function enter(z, h, now, win, id, tokens)
  redis.call('ZADD', z, now, id)
  redis.call('HSET', h, id, tokens)
  redis.call('HINCRBY', h, '=', tokens)
  redis.call('PEXPIRE', z, win + 1000)
  redis.call('PEXPIRE', h, win + 1000)
end
local function room(m, limit)
  local v = redis.call('HMGET', m, 'base', 'held', 'unfl', 'at')
  if not v[1] then return nil, 0 end
  local base, held, unfl = num(v[1]), num(v[2]), num(v[3])
  local r = limit + base - held - unfl
  if math.abs(base) + math.abs(held) + math.abs(unfl) + math.abs(limit) >= BIG then r = r - 4096 end
  return r, num(v[4])
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
if cclimit >= 0 and num(redis.call('HGET', KEYS[7], 'n')) >= cclimit then return {'concurrency'} end
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
  if room(KEYS[i], limits[i]) < num(hold) then return {'key_limit', i - 8} end
end
local r = room(KEYS[8], 0)
if r < num(hold) then return {'balance', string.format('%.0f', r)} end
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

/** A writer's batch is committing (called under the accounts' locks): its charges leave unfl for base.
 *  KEYS: mirrors; ARGV: inst, then one amount per mirror. */
export const COMMIT = `${COMMON}
local inst = ARGV[1]
for i = 1, #KEYS do
  local x = ARGV[i + 1]
  if redis.call('HEXISTS', KEYS[i], 'base') == 1 then redis.call('HINCRBY', KEYS[i], 'base', neg(x)) end
  take(KEYS[i], 'unfl', 'u:' .. inst, x)
end
return 1
`;

/** This instance's shares set to what it knows (after a failure or a Redis restart).
 *  KEYS: inst-keys set, then hashes; ARGV: inst, then per hash: kind (m/c), invalidate (1/0), held or n, unfl. */
export const SYNC = `${COMMON}
local inst = ARGV[1]
local function set(key, total, share, v)
  local cur = redis.call('HGET', key, share)
  if cur and cur ~= '0' then redis.call('HINCRBY', key, total, neg(cur)) end
  redis.call('HDEL', key, share)
  add(key, total, share, v)
end
for i = 2, #KEYS do
  local j = 2 + (i - 2) * 4
  local k = KEYS[i]
  if ARGV[j] == 'c' then set(k, 'n', 'c:' .. inst, ARGV[j + 2])
  else
    set(k, 'held', 'h:' .. inst, ARGV[j + 2])
    set(k, 'unfl', 'u:' .. inst, ARGV[j + 3])
    if ARGV[j + 1] == '1' then redis.call('HDEL', k, 'base') end
  end
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
  for _, f in ipairs({{'h:', 'held'}, {'u:', 'unfl'}, {'c:', 'n'}}) do
    local v = redis.call('HGET', k, f[1] .. inst)
    if v then
      if v ~= '0' then redis.call('HINCRBY', k, f[2], neg(v)) end
      redis.call('HDEL', k, f[1] .. inst)
      if f[2] ~= 'n' then had = true end
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
