//! The fleet's wire protocol, version 1: what a message says, how it is written and
//! read, and the names of the Redis keys and channel of a namespace (docs/fleet.md).
//!
//! A message is one line of seven fields separated by single spaces:
//!
//! ```text
//! brama/1 <op> <instance> <ttl> <scope> <identifier> <reason>
//! ```
//!
//! - `op`: `open`, `close` or `reset`;
//! - `instance`: the sender's id, 16 lower-case hex digits;
//! - `ttl`: for `open`, the remaining open time in whole milliseconds (at least 1) or
//!   `inf` (open until closed by hand); `-` for `close` and `reset`;
//! - `scope`: empty for an unscoped key; `identifier`: never empty; `reason`: may be
//!   empty. These three are percent-encoded: every byte outside `A-Z a-z 0-9 - . _ ~`
//!   is written `%XX` (upper-case hex), so a field never holds a space.
//!
//! Anything else (another version, a wrong field count, a bad escape, a key brama
//! would refuse, more than [`MAX_MESSAGE_BYTES`]) is malformed: ignored and counted.

use std::fmt::Write as _;
use std::time::Duration;

use brama_core::{Error, Key, OwnedKey, MAX_DURATION};

/// The version tag every message of this protocol starts with.
pub(crate) const VERSION: &str = "brama/1";

/// The longest message read; longer ones are ignored and counted.
pub(crate) const MAX_MESSAGE_BYTES: usize = 8 * 1024;

/// The longest namespace.
pub(crate) const MAX_NAMESPACE_BYTES: usize = 64;

/// What a message asks the other instances to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// Open for the remaining time (`None`: until closed by hand).
    Open(Option<Duration>),
    /// Close.
    Close,
    /// Reset.
    Reset,
}

/// One message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Message {
    pub(crate) op: Op,
    pub(crate) instance: u64,
    pub(crate) key: OwnedKey,
    pub(crate) reason: Option<String>,
}

impl Message {
    /// The message as it travels.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::with_capacity(64);
        let (op, ttl) = match self.op {
            Op::Open(Some(d)) => ("open", ttl_millis(d).to_string()),
            Op::Open(None) => ("open", "inf".to_owned()),
            Op::Close => ("close", "-".to_owned()),
            Op::Reset => ("reset", "-".to_owned()),
        };
        let _ = write!(out, "{VERSION} {op} {:016x} {ttl} ", self.instance);
        encode_into(&mut out, self.key.scope().unwrap_or(""));
        out.push(' ');
        encode_into(&mut out, self.key.identifier());
        out.push(' ');
        encode_into(&mut out, self.reason.as_deref().unwrap_or(""));
        out
    }

    /// Reads a message; `None` for anything malformed.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Message> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return None;
        }
        let text = std::str::from_utf8(bytes).ok()?;
        let mut fields = text.split(' ');
        let mut next = || fields.next();
        if next()? != VERSION {
            return None;
        }
        let op = next()?;
        let instance = next()?;
        let ttl = next()?;
        let scope = decode_field(next()?)?;
        let identifier = decode_field(next()?)?;
        let reason = decode_field(next()?)?;
        if next().is_some() {
            return None;
        }
        if instance.len() != 16 || !instance.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let instance = u64::from_str_radix(instance, 16).ok()?;
        let op = match (op, ttl) {
            ("open", "inf") => Op::Open(None),
            ("open", ms) => {
                if ms.is_empty() || !ms.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let ms: u64 = ms.parse().ok()?;
                if ms == 0 {
                    return None;
                }
                Op::Open(Some(Duration::from_millis(ms).min(MAX_DURATION)))
            }
            ("close", "-") => Op::Close,
            ("reset", "-") => Op::Reset,
            _ => return None,
        };
        let key = if scope.is_empty() {
            Key::new(&identifier)
        } else {
            Key::scoped(&scope, &identifier)
        };
        let key = key.to_owned_key().ok()?;
        Some(Message {
            op,
            instance,
            key,
            reason: (!reason.is_empty()).then_some(reason),
        })
    }
}

/// Whole milliseconds, rounded up so a remaining time is never sent as 0; at least 1.
pub(crate) fn ttl_millis(d: Duration) -> u64 {
    let ms = d.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(u64::MAX).max(1)
}

fn encode_into(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

fn decode_field(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') => {
                out.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

/// The Redis names of one namespace.
#[derive(Clone, Debug)]
pub(crate) struct Names {
    /// The channel every message of the namespace is published on.
    pub(crate) channel: String,
    /// The prefix of the keys that hold the openings in force.
    open_prefix: String,
}

impl Names {
    /// The names of `namespace`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] (field `namespace`) unless it is 1 to
    /// [`MAX_NAMESPACE_BYTES`] bytes of `A-Z a-z 0-9 - . _`.
    pub(crate) fn new(namespace: &str) -> Result<Names, Error> {
        if namespace.is_empty() || namespace.len() > MAX_NAMESPACE_BYTES {
            return Err(Error::InvalidConfig {
                field: "namespace",
                reason: format!(
                    "the namespace must be 1 to {MAX_NAMESPACE_BYTES} bytes long (got {})",
                    namespace.len()
                ),
            });
        }
        if let Some(c) = namespace
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
        {
            return Err(Error::InvalidConfig {
                field: "namespace",
                reason: format!(
                    "the namespace may hold only ASCII letters, digits, '-', '.' and '_' \
                     (found {c:?})"
                ),
            });
        }
        Ok(Names {
            channel: format!("brama:{namespace}:events"),
            open_prefix: format!("brama:{namespace}:open:"),
        })
    }

    /// The key holding the opening of `key` in force:
    /// `brama:<ns>:open:-:<identifier>` unscoped,
    /// `brama:<ns>:open:<scope length>:<scope>:<identifier>` scoped, so two different
    /// connections never share a key name.
    pub(crate) fn open_key(&self, key: Key<'_>) -> String {
        let mut out = self.open_prefix.clone();
        match key.scope() {
            Some(scope) => {
                let _ = write!(out, "{}:{scope}:", scope.len());
            }
            None => out.push_str("-:"),
        }
        out.push_str(key.identifier());
        out
    }

    /// The `SCAN MATCH` pattern of every opening key (the namespace holds no glob
    /// character).
    pub(crate) fn open_pattern(&self) -> String {
        format!("{}*", self.open_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(op: Op, key: Key<'_>, reason: Option<&str>) -> Message {
        Message {
            op,
            instance: 0x0123_4567_89ab_cdef,
            key: key.to_owned_key().unwrap(),
            reason: reason.map(str::to_owned),
        }
    }

    #[test]
    fn messages_round_trip() {
        for m in [
            message(
                Op::Open(Some(Duration::from_millis(1500))),
                Key::scoped("pay ments", "str%ipe/é"),
                Some("db down: 5 timeouts"),
            ),
            message(Op::Open(None), Key::new("db"), None),
            message(Op::Close, Key::new("a b"), Some("ok")),
            message(Op::Reset, Key::scoped("s", "i"), None),
        ] {
            let text = m.encode();
            assert_eq!(Message::decode(text.as_bytes()), Some(m), "{text}");
        }
        assert_eq!(
            message(
                Op::Open(Some(Duration::from_millis(1500))),
                Key::scoped("p", "s"),
                None
            )
            .encode(),
            "brama/1 open 0123456789abcdef 1500 p s "
        );
    }

    #[test]
    fn remaining_times_round_up_to_whole_milliseconds() {
        assert_eq!(ttl_millis(Duration::from_nanos(1)), 1);
        assert_eq!(ttl_millis(Duration::from_micros(1500)), 2);
        assert_eq!(ttl_millis(Duration::from_millis(7)), 7);
    }

    #[test]
    fn malformed_messages_are_refused() {
        let good = "brama/1 open 0123456789abcdef 1500 p s r";
        assert!(Message::decode(good.as_bytes()).is_some());
        for bad in [
            "",
            "hello",
            "brama/2 open 0123456789abcdef 1500 p s r",
            "brama/1 open 0123456789abcdef 1500 p s",
            "brama/1 open 0123456789abcdef 1500 p s r extra",
            "brama/1 open 0123456789abcde 1500 p s r",
            "brama/1 open 0123456789abcdeg 1500 p s r",
            "brama/1 open 0123456789abcdef 0 p s r",
            "brama/1 open 0123456789abcdef -5 p s r",
            "brama/1 open 0123456789abcdef +5 p s r",
            "brama/1 open 0123456789abcdef - p s r",
            "brama/1 close 0123456789abcdef 1500 p s r",
            "brama/1 shut 0123456789abcdef - p s r",
            "brama/1 open 0123456789abcdef 1500 p  r",
            "brama/1 open 0123456789abcdef 1500 p %zz r",
            "brama/1 open 0123456789abcdef 1500 p %4 r",
            "brama/1 open 0123456789abcdef 1500 p %FF r",
            "brama/1 open 0123456789abcdef 1500 p s/ r",
            "brama/1  open 0123456789abcdef 1500 p s r",
        ] {
            assert_eq!(Message::decode(bad.as_bytes()), None, "{bad:?}");
        }
        let long = format!("brama/1 open 0123456789abcdef 1500 p {} r", "a".repeat(300));
        assert_eq!(
            Message::decode(long.as_bytes()),
            None,
            "over-long identifier"
        );
        assert_eq!(Message::decode(&[0xff, 0xfe]), None);
        let huge = vec![b'a'; MAX_MESSAGE_BYTES + 1];
        assert_eq!(Message::decode(&huge), None);
    }

    #[test]
    fn namespaces_are_checked_and_names_are_distinct() {
        assert!(Names::new("payments-svc.v2_eu").is_ok());
        for bad in ["", "a:b", "a*", "a b", "é", &"a".repeat(65)] {
            assert!(
                matches!(
                    Names::new(bad),
                    Err(Error::InvalidConfig {
                        field: "namespace",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
        let n = Names::new("ns").unwrap();
        assert_eq!(n.channel, "brama:ns:events");
        assert_eq!(n.open_key(Key::new("db")), "brama:ns:open:-:db");
        assert_eq!(n.open_key(Key::scoped("a:b", "c")), "brama:ns:open:3:a:b:c");
        assert_ne!(
            n.open_key(Key::scoped("a", "b:c")),
            n.open_key(Key::scoped("a:b", "c"))
        );
        assert_eq!(n.open_pattern(), "brama:ns:open:*");
    }
}
