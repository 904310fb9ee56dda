//! The publisher thread: reads this instance's own `StateChanged` events, keeps the
//! latest update per connection in a bounded queue, and sends the queue to Redis in one
//! transaction per round (`SET`/`DEL` of the opening key and `PUBLISH` on the channel).
//! While Redis is away the queue waits (bounded, newer replacing older per connection)
//! and is sent after the reconnect, with the openings in force here republished. It also
//! applies remembered remote openings when their connection registers here.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use ::redis::{Connection, RedisResult, Value};
use brama_core::engine::{Registry, Remote};
use brama_core::{Cause, Event, EventKind, OwnedKey, State, Subscription};

use super::link::*;
use super::protocol::{ttl_millis, Message, Op};

/// How often the opening keys of this instance's openings in force are written again
/// (no `PUBLISH`), so that a server restarted empty or flushed learns them again.
const REFRESH_EVERY: Duration = Duration::from_secs(5);
/// The most updates sent in one transaction.
const BATCH: usize = 500;

/// An update waiting to be sent.
#[derive(Clone, Debug)]
enum Update {
    /// An opening in force here: its remaining time is read when it is sent; `announce`
    /// is false for a refresh of the stored key alone.
    Open {
        announce: bool,
        reason: Option<String>,
    },
    Close,
    Reset,
}

struct Publisher {
    shared: Arc<Shared>,
    registry: Weak<Registry>,
    conn: Option<Connection>,
    /// Latest update per connection, with the order it was queued in.
    queue: HashMap<OwnedKey, (u64, Update)>,
    order: u64,
    /// Connections whose opening in force was made here (not applied from remote).
    local: HashSet<OwnedKey>,
    backoff: Duration,
    retry_at: Instant,
    ping_at: Instant,
    refresh_at: Instant,
    seen_dropped: u64,
}

/// The thread's body.
pub(crate) fn run(shared: Arc<Shared>, registry: Weak<Registry>, events: Subscription) {
    let now = Instant::now();
    let mut p = Publisher {
        shared,
        registry,
        conn: None,
        queue: HashMap::new(),
        order: 0,
        local: HashSet::new(),
        backoff: MIN_BACKOFF,
        retry_at: now,
        ping_at: now + PING_EVERY,
        refresh_at: now + REFRESH_EVERY,
        seen_dropped: 0,
    };
    // Openings in force when attaching are shared too (the subscription is already
    // taken, so none made from here on is missed).
    p.queue_openings_in_force();
    while !p.shared.stopped() && p.registry.strong_count() > 0 {
        let wait = p.next_wait();
        if let Some(e) = events.recv_timeout(wait) {
            p.event(&e);
            for e in events.try_iter() {
                p.event(&e);
            }
        }
        if events.dropped() != p.seen_dropped {
            // Our queue overflowed: changes were missed. What is open here is sent again.
            p.seen_dropped = events.dropped();
            p.shared.count(&p.shared.dropped);
            p.queue_openings_in_force();
        }
        p.round();
    }
    p.shared.set_up(Side::Publisher, false);
}

impl Publisher {
    fn next_wait(&self) -> Duration {
        let now = Instant::now();
        let mut due = self.ping_at.min(self.refresh_at);
        if self.conn.is_none() || !self.queue.is_empty() {
            due = due.min(self.retry_at);
        }
        due.saturating_duration_since(now)
            .clamp(Duration::from_millis(1), POLL)
    }

    /// One local event.
    fn event(&mut self, e: &Event) {
        let Some(key) = e.key().and_then(|k| k.to_owned_key().ok()) else {
            return;
        };
        match e.kind {
            EventKind::Registered => self.registered(&key),
            EventKind::StateChanged { to, cause, .. } => match (to, cause) {
                (_, Cause::Remote) => {
                    self.local.remove(&key);
                }
                (State::Open, _) => {
                    self.local.insert(key.clone());
                    let reason = e.reason.clone();
                    self.push(
                        key,
                        Update::Open {
                            announce: true,
                            reason,
                        },
                    );
                }
                (State::Closed, Cause::ManualClose) => {
                    self.local.remove(&key);
                    self.push(key, Update::Close);
                }
                (State::Unknown, Cause::ManualReset) => {
                    self.local.remove(&key);
                    self.push(key, Update::Reset);
                }
                _ => {
                    self.local.remove(&key);
                }
            },
            _ => {}
        }
    }

    /// A connection registered here: a remote opening remembered for it is applied.
    fn registered(&self, key: &OwnedKey) {
        let Some((remaining, reason)) = self.shared.take_deferred(key) else {
            return;
        };
        let Some(registry) = self.registry.upgrade() else {
            return;
        };
        if registry
            .apply_remote(key.as_key(), Remote::Open(remaining), reason.as_deref())
            .is_ok()
        {
            self.shared.count(&self.shared.applied);
        }
    }

    /// Queues `update`, replacing an older one of the same connection.
    fn push(&mut self, key: OwnedKey, update: Update) {
        if self.queue.len() >= MAX_QUEUED && !self.queue.contains_key(&key) {
            self.shared.count(&self.shared.dropped);
            return;
        }
        self.order += 1;
        self.queue.insert(key, (self.order, update));
    }

    /// Queues every opening in force here as made here.
    fn queue_openings_in_force(&mut self) {
        let Some(registry) = self.registry.upgrade() else {
            return;
        };
        for s in registry.connections() {
            if s.state != State::Open {
                continue;
            }
            let key = match &s.scope {
                Some(scope) => brama_core::Key::scoped(scope, &s.identifier).to_owned_key(),
                None => brama_core::Key::new(&s.identifier).to_owned_key(),
            };
            if let Ok(key) = key {
                self.local.insert(key.clone());
                self.push(
                    key,
                    Update::Open {
                        announce: true,
                        reason: None,
                    },
                );
            }
        }
    }

    /// Connects if due, sends what is queued, pings an idle link, refreshes the keys.
    ///
    /// The backoff starts over only when the server answered what was sent (a flush or a
    /// ping), not when a connection was merely accepted: a server that accepts
    /// connections but refuses writes (a read-only replica, `OOM`, an ACL user without
    /// `SET`) is then retried less and less often, up to [`MAX_BACKOFF`], instead of
    /// every [`MIN_BACKOFF`].
    fn round(&mut self) {
        let now = Instant::now();
        if self.conn.is_none() {
            if now < self.retry_at {
                return;
            }
            match connect(&self.shared) {
                Ok(conn) => {
                    self.conn = Some(conn);
                    self.ping_at = now + PING_EVERY;
                    // The server may have restarted empty: our openings are written again.
                    self.refresh(true);
                    self.shared.set_up(Side::Publisher, true);
                }
                Err(_) => {
                    self.retry_at = now + self.backoff;
                    self.backoff = next_backoff(self.backoff);
                    return;
                }
            }
        }
        if now >= self.refresh_at {
            self.refresh_at = now + REFRESH_EVERY;
            self.refresh(false);
        }
        let answered = if !self.queue.is_empty() {
            self.flush()
        } else if now >= self.ping_at {
            match self.conn.as_mut() {
                Some(c) => ::redis::cmd("PING").query::<Value>(c).map(|_| true),
                None => Err(not_connected()),
            }
        } else {
            // Nothing sent: the link was not tested, the next ping stays due.
            return;
        };
        match answered {
            Ok(answered) => {
                self.ping_at = Instant::now() + PING_EVERY;
                if answered {
                    self.backoff = MIN_BACKOFF;
                }
            }
            Err(_) => {
                self.conn = None;
                self.shared.set_up(Side::Publisher, false);
                self.retry_at = Instant::now() + self.backoff;
                self.backoff = next_backoff(self.backoff);
            }
        }
    }

    /// Queues this instance's openings in force again: announced after a reconnect,
    /// stored only on the periodic refresh.
    fn refresh(&mut self, announce: bool) {
        let keys: Vec<OwnedKey> = self.local.iter().cloned().collect();
        for key in keys {
            match self.queue.get_mut(&key) {
                // Already queued: an announcement stays one, a rewrite may become one.
                Some((_, Update::Open { announce: a, .. })) => *a |= announce,
                Some(_) => {}
                None => self.push(
                    key,
                    Update::Open {
                        announce,
                        reason: None,
                    },
                ),
            }
        }
    }

    /// Sends the queue, oldest first, in transactions of at most [`BATCH`] updates.
    /// On error what was not sent stays queued. Ok(true) if the server took at least one
    /// transaction, Ok(false) if there was nothing to send after all.
    fn flush(&mut self) -> RedisResult<bool> {
        let Some(registry) = self.registry.upgrade() else {
            self.queue.clear();
            return Ok(false);
        };
        let mut items: Vec<(OwnedKey, u64, Update)> =
            self.queue.drain().map(|(k, (o, u))| (k, o, u)).collect();
        items.sort_by_key(|(_, o, _)| *o);
        let mut sent = 0;
        let mut answered = false;
        let result = (|| {
            for chunk in items.chunks(BATCH) {
                let mut pipe = ::redis::pipe();
                pipe.atomic();
                let mut count = 0u64;
                for (key, _, update) in chunk {
                    count += u64::from(self.add(&mut pipe, &registry, key, update));
                }
                if count > 0 {
                    let conn = self.conn.as_mut().ok_or_else(not_connected)?;
                    pipe.query::<()>(conn)?;
                    answered = true;
                    // Relaxed: a counter read only for reporting.
                    self.shared
                        .published
                        .fetch_add(count, std::sync::atomic::Ordering::Relaxed);
                }
                sent += chunk.len();
            }
            Ok(())
        })();
        if result.is_err() {
            for (key, order, update) in items.into_iter().skip(sent) {
                self.queue.entry(key).or_insert((order, update));
            }
        }
        result.map(|()| answered)
    }

    /// Adds one update's commands to `pipe`; false if there is nothing to send (an
    /// opening that ended, or a connection gone).
    fn add(
        &mut self,
        pipe: &mut ::redis::Pipeline,
        registry: &Registry,
        key: &OwnedKey,
        update: &Update,
    ) -> bool {
        let names = &self.shared.names;
        let name = names.open_key(key.as_key());
        let message = |op, reason: &Option<String>| {
            Message {
                op,
                instance: self.shared.instance,
                key: key.clone(),
                reason: reason.clone(),
            }
            .encode()
        };
        match update {
            Update::Open { announce, reason } => {
                let remaining = match registry.open_remaining(key.as_key()) {
                    Ok(Some(r)) => r,
                    // Not open any more, or gone: nothing in force to share.
                    _ => {
                        self.local.remove(key);
                        return false;
                    }
                };
                let text = message(Op::Open(remaining), reason);
                pipe.cmd("SET").arg(&name).arg(&text);
                if let Some(r) = remaining {
                    pipe.arg("PX").arg(ttl_millis(r));
                }
                pipe.ignore();
                if *announce {
                    pipe.cmd("PUBLISH").arg(&names.channel).arg(&text).ignore();
                }
            }
            Update::Close | Update::Reset => {
                let op = if matches!(update, Update::Close) {
                    Op::Close
                } else {
                    Op::Reset
                };
                let text = message(op, &None);
                pipe.cmd("DEL").arg(&name).ignore();
                pipe.cmd("PUBLISH").arg(&names.channel).arg(&text).ignore();
            }
        }
        true
    }
}

fn connect(shared: &Shared) -> RedisResult<Connection> {
    let conn = shared.client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
    conn.set_write_timeout(Some(IO_TIMEOUT))?;
    conn.set_read_timeout(Some(IO_TIMEOUT))?;
    Ok(conn)
}

fn not_connected() -> ::redis::RedisError {
    ::redis::RedisError::from((::redis::ErrorKind::IoError, "not connected"))
}
