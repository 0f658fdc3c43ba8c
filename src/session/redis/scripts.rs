//! The Lua scripts of the Redis store: each runs atomically on the primary, so two replicas
//! (or a request and a sweep) never both end the same session, and a late write-back never
//! recreates one.
//!
//! A session hash holds `ix`: its index entries as `NAME MEMBER` lines (keyed index names,
//! sealed members: nothing readable), so whatever ends the session removes them too.
//!
//! Whatever ends a session also publishes its key (hex) on the deployment's invalidation
//! channel in the same step ([`super::invalidation`]): every replica's cache drops it. With
//! `pcall`: a Redis user not allowed to publish still ends sessions (replicas then never get a
//! heartbeat back either, so their caches stay off).

/// Writes the last activity back, moves the sweep deadline and extends the TTL, only if the
/// session still exists and the new value is later than the stored one (another replica may
/// have written a later one).
/// KEYS: session, sweep set. ARGV: seen, TTL (ms), deadline, sweep member.
pub const TOUCH: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local seen = tonumber(redis.call('HGET', KEYS[1], 'seen') or '0') or 0
if tonumber(ARGV[1]) > seen then
  redis.call('HSET', KEYS[1], 'seen', ARGV[1], 'dl', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
end
return 1
";

/// Removes a session's index entries, the session and its sweep entry, and publishes its end;
/// returns its sealed record (nil if there was no session).
const END_BODY: &str = r"
local ix = redis.call('HGET', KEYS[1], 'ix')
if ix then
  for name, member in string.gmatch(ix, '(%S+) (%S+)') do
    redis.call('ZREM', name, member)
  end
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.pcall('PUBLISH', ARGV[2], ARGV[1])
return rec
";

/// Ends a session now. KEYS: session, sweep set. ARGV: sweep member, invalidation channel.
pub fn end() -> String {
    format!(
        r"
local rec = redis.call('HGET', KEYS[1], 'rec')
if not rec then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return false
end
{END_BODY}"
    )
}

/// Ends a session if its sweep deadline has passed; otherwise puts it back in the sweep set
/// at its deadline. KEYS: session, sweep set. ARGV: sweep member, invalidation channel, now.
pub fn sweep() -> String {
    format!(
        r"
local f = redis.call('HMGET', KEYS[1], 'rec', 'dl')
local rec = f[1]
if not rec then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return false
end
local deadline = tonumber(f[2]) or 0
if deadline > tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[2], deadline, ARGV[1])
  return false
end
{END_BODY}"
    )
}
