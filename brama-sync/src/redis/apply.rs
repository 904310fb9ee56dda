//! The subscriber thread: subscribes to the namespace's channel, loads the openings in
//! force, and applies what the other instances publish (cause `Remote`). On any error it
//! drops the connection and tries again with backoff; every new connection loads the
//! openings in force again, so what was missed while it was down is caught up.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use ::redis::{cmd, Connection, ConnectionLike, ErrorKind, RedisError, RedisResult, Value};
use brama_core::engine::{Registry, Remote};
use brama_core::Error;

use super::link::*;
use super::protocol::{Message, Op};

/// How a session with the server ended.
enum Ended {
    /// Asked to stop, or the registry is gone.
    Stop,
    /// The connection failed; `stable` tells whether it had been up (past the load) for
    /// at least [`STABLE_AFTER`].
    Lost { stable: bool },
}

/// The thread's body.
pub(crate) fn run(shared: Arc<Shared>, registry: Weak<Registry>) {
    let mut backoff = MIN_BACKOFF;
    loop {
        match session(&shared, &registry) {
            Ended::Stop => break,
            Ended::Lost { stable } => {
                shared.set_up(Side::Subscriber, false);
                // Only a session that lasted starts the backoff over: a server that drops
                // the subscriber right after its load is retried less and less often.
                if stable {
                    backoff = MIN_BACKOFF;
                }
                if shared.sleep(backoff) {
                    break;
                }
                backoff = next_backoff(backoff);
            }
        }
    }
    shared.set_up(Side::Subscriber, false);
}

/// One connection: subscribe, load, then apply messages until it fails or we stop.
fn session(shared: &Shared, registry: &Weak<Registry>) -> Ended {
    let lost = Ended::Lost { stable: false };
    if shared.stopped() {
        return Ended::Stop;
    }
    let Ok(mut conn) = shared.client.get_connection_with_timeout(CONNECT_TIMEOUT) else {
        return lost;
    };
    if conn.set_write_timeout(Some(IO_TIMEOUT)).is_err()
        || conn.set_read_timeout(Some(IO_TIMEOUT)).is_err()
    {
        return lost;
    }
    let mut pubsub = conn.as_pubsub();
    // Subscribed before the load: a change made after the load read its key arrives as
    // a message, and one made before it is in what the load reads (docs/fleet.md).
    if pubsub.subscribe(&shared.names.channel).is_err() {
        return lost;
    }
    match load(shared, registry) {
        Ok(true) => {}
        Ok(false) => return Ended::Stop,
        Err(_) => return lost,
    }
    if pubsub.set_read_timeout(Some(POLL)).is_err() {
        return lost;
    }
    shared.set_up(Side::Subscriber, true);
    let up_since = Instant::now();
    let lost = || Ended::Lost {
        stable: up_since.elapsed() >= STABLE_AFTER,
    };
    let mut quiet_since = Instant::now();
    loop {
        if shared.stopped() {
            return Ended::Stop;
        }
        match pubsub.get_message() {
            Ok(msg) => {
                quiet_since = Instant::now();
                if msg.get_channel_name() != shared.names.channel {
                    continue;
                }
                let Some(registry) = registry.upgrade() else {
                    return Ended::Stop;
                };
                apply_bytes(shared, &registry, msg.get_payload_bytes(), None);
            }
            Err(e) if e.is_timeout() => {
                if quiet_since.elapsed() >= PING_EVERY {
                    // A server that stopped answering (paused, partitioned) closes no
                    // socket: a PING with a deadline finds it.
                    let alive = pubsub.set_read_timeout(Some(IO_TIMEOUT)).is_ok()
                        && pubsub.ping::<Value>().is_ok()
                        && pubsub.set_read_timeout(Some(POLL)).is_ok();
                    if !alive {
                        return lost();
                    }
                    quiet_since = Instant::now();
                }
                if registry.strong_count() == 0 {
                    return Ended::Stop;
                }
            }
            Err(_) => return lost(),
        }
    }
}

/// Loads the openings in force (`SCAN` over the namespace's opening keys, then each
/// key's value and remaining time, `PTTL`, measured by the server: no host clock is
/// involved). Ok(false) if asked to stop or the registry is gone, which is looked at
/// between `SCAN` rounds: a `SCAN` round examines about 500 keys of the whole database,
/// matching or not, so a load in a large shared database takes many rounds.
fn load(shared: &Shared, registry: &Weak<Registry>) -> RedisResult<bool> {
    let mut conn: Connection = shared.client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
    conn.set_write_timeout(Some(IO_TIMEOUT))?;
    conn.set_read_timeout(Some(IO_TIMEOUT))?;
    let pattern = shared.names.open_pattern();
    let mut cursor: u64 = 0;
    loop {
        if shared.stopped() || registry.strong_count() == 0 {
            return Ok(false);
        }
        let (next, keys): (u64, Vec<Vec<u8>>) = cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(500)
            .query(&mut conn)?;
        if !keys.is_empty() {
            let replies = get_and_pttl(&mut conn, &keys)?;
            let Some(registry) = registry.upgrade() else {
                return Ok(false);
            };
            for (key, stored) in keys.iter().zip(replies) {
                match stored {
                    Stored::Gone => {}
                    Stored::NotAString => shared.count(&shared.ignored),
                    Stored::Value(value, remaining) => {
                        apply_bytes(shared, &registry, &value, Some((key, remaining)));
                    }
                }
            }
        }
        if next == 0 {
            return Ok(true);
        }
        cursor = next;
    }
}

/// What one opening key held when the load read it.
enum Stored {
    /// Deleted or ended since the `SCAN`.
    Gone,
    /// A hash, list, set...: not a value brama wrote (malformed, so ignored and counted).
    NotAString,
    /// A string, with the remaining time the server measured (`None`: no TTL).
    Value(Vec<u8>, Option<Duration>),
}

/// `GET` and `PTTL` of every key, in one pipeline. Sent through the raw connection, not
/// `Pipeline::query`: that one fails as a whole when any reply is an error, and `GET` of
/// a key of another type answers `WRONGTYPE` (a key can change type between the `SCAN`
/// and the `GET`, so filtering the `SCAN` by type would not be enough). Here each reply
/// is judged on its own: `WRONGTYPE` marks that key alone; any other error (`NOPERM`,
/// `LOADING`...) says nothing about the value and fails the load, as a lost connection
/// does.
fn get_and_pttl(conn: &mut Connection, keys: &[Vec<u8>]) -> RedisResult<Vec<Stored>> {
    let mut pipe = ::redis::pipe();
    for key in keys {
        pipe.cmd("GET").arg(key).cmd("PTTL").arg(key);
    }
    let replies = conn.req_packed_commands(&pipe.get_packed_pipeline(), 0, keys.len() * 2)?;
    if replies.len() != keys.len() * 2 {
        return Err(unexpected("GET/PTTL reply count"));
    }
    let mut out = Vec::with_capacity(keys.len());
    let mut replies = replies.into_iter();
    while let (Some(value), Some(pttl)) = (replies.next(), replies.next()) {
        // -2: gone since the SCAN; -1: no TTL; 0: ends now.
        let remaining = match pttl {
            Value::Int(-1) => None,
            Value::Int(ms) if ms > 0 => Some(Duration::from_millis(ms.unsigned_abs())),
            Value::Int(_) => {
                out.push(Stored::Gone);
                continue;
            }
            Value::ServerError(e) => return Err(e.into()),
            _ => return Err(unexpected("PTTL reply")),
        };
        out.push(match value {
            Value::Nil => Stored::Gone,
            Value::BulkString(bytes) => Stored::Value(bytes, remaining),
            Value::ServerError(e) if e.code() == "WRONGTYPE" => Stored::NotAString,
            Value::ServerError(e) => return Err(e.into()),
            _ => return Err(unexpected("GET reply")),
        });
    }
    Ok(out)
}

fn unexpected(what: &'static str) -> RedisError {
    RedisError::from((ErrorKind::TypeError, "unexpected reply", what.to_owned()))
}

/// Decodes and applies one message (from the channel, or, with `stored`, an opening key's
/// value with its key name and the remaining time the server measured). Malformed or
/// foreign messages are counted in `ignored` and change nothing; the instance's own are
/// skipped.
fn apply_bytes(
    shared: &Shared,
    registry: &Registry,
    bytes: &[u8],
    stored: Option<(&[u8], Option<Duration>)>,
) {
    let Some(mut msg) = Message::decode(bytes) else {
        shared.count(&shared.ignored);
        return;
    };
    if let Some((key, remaining)) = stored {
        // A stored value must be an opening, under the key name its connection has.
        let consistent = matches!(msg.op, Op::Open(_))
            && shared.names.open_key(msg.key.as_key()).as_bytes() == key;
        if !consistent {
            shared.count(&shared.ignored);
            return;
        }
        msg.op = Op::Open(remaining);
    }
    if msg.instance == shared.instance {
        return;
    }
    apply(shared, registry, msg);
}

/// Applies a message from another instance.
pub(crate) fn apply(shared: &Shared, registry: &Registry, msg: Message) {
    let key = msg.key.as_key();
    let reason = msg.reason.as_deref();
    let change = match msg.op {
        Op::Open(d) => Remote::Open(d),
        Op::Close => Remote::Close,
        Op::Reset => Remote::Reset,
    };
    if !matches!(change, Remote::Open(_)) {
        shared.forget(&msg.key);
    }
    match registry.apply_remote(key, change, reason) {
        Ok(_) => shared.count(&shared.applied),
        Err(Error::NotFound { .. }) => {
            if let Op::Open(d) = msg.op {
                // Remembered first, then tried again: a registration between the two
                // tries is applied by the second, one after it by the `Registered`
                // event the publisher thread handles (it finds what was remembered).
                shared.defer(msg.key.clone(), d, msg.reason.clone());
                if registry.apply_remote(key, change, reason).is_ok() {
                    shared.forget(&msg.key);
                    shared.count(&shared.applied);
                }
            }
        }
        Err(_) => shared.count(&shared.ignored),
    }
}
