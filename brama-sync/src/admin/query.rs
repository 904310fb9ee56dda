//! The query string the admin endpoint reads: `scope`, `limit`, `after`, `after_scope`.

use std::fmt::Write as _;

/// Circuits a `/circuits` page holds when `?limit=` is not given.
pub const DEFAULT_LIMIT: usize = 100;
/// The most circuits one page holds, whatever `?limit=` asks (a larger one is capped).
pub const MAX_LIMIT: usize = 1000;
/// Circuits the HTML page shows when `?limit=` is not given.
pub const PAGE_LIMIT: usize = 200;

/// Where a page starts: after this key, in the order scope (unscoped first), then
/// identifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Cursor {
    pub(super) scope: Option<String>,
    pub(super) identifier: String,
}

/// A request's parameters. Unknown ones are ignored.
#[derive(Debug, Default)]
pub(super) struct Query {
    /// Only this scope's circuits.
    pub(super) scope: Option<String>,
    /// At most this many circuits (1 to [`MAX_LIMIT`]).
    pub(super) limit: Option<usize>,
    /// Start after this key.
    pub(super) after: Option<Cursor>,
}

impl Query {
    /// Reads `scope`, `limit`, `after` and `after_scope` (percent-encoded, `+` for a
    /// space). `after_scope` defaults to `scope`: within a scope, `after` is an
    /// identifier of that scope; without either, an unscoped identifier.
    ///
    /// # Errors
    /// A `limit` that is not a number, or a parameter that is not valid UTF-8 once
    /// decoded.
    pub(super) fn parse(raw: &str) -> Result<Query, String> {
        let mut q = Query::default();
        let mut after = None;
        let mut after_scope = None;
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(value).ok_or_else(|| format!("{name}: not UTF-8"))?;
            match name {
                "scope" if !value.is_empty() => q.scope = Some(value),
                "limit" => {
                    let n: usize = value
                        .parse()
                        .map_err(|_| format!("limit: {value:?} is not a number"))?;
                    q.limit = Some(n.clamp(1, MAX_LIMIT));
                }
                "after" if !value.is_empty() => after = Some(value),
                "after_scope" if !value.is_empty() => after_scope = Some(value),
                _ => {}
            }
        }
        q.after = after.map(|identifier| Cursor {
            scope: after_scope.or_else(|| q.scope.clone()),
            identifier,
        });
        Ok(q)
    }
}

/// Percent-decodes `s` (`+` is a space); `None` if the bytes are not UTF-8.
fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Percent-encodes `s` for a query value (unreserved characters kept).
pub(super) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The URL of the page after `after`: `<prefix><path>?limit=..&after=..` with the
/// scope filter and the cursor's scope.
pub(super) fn next_url(
    prefix: &str,
    path: &str,
    query: &Query,
    limit: usize,
    after: &Cursor,
) -> String {
    let mut url = format!(
        "{prefix}{path}?limit={limit}&after={}",
        encode(&after.identifier)
    );
    if let Some(scope) = &query.scope {
        let _ = write!(url, "&scope={}", encode(scope));
    }
    if let Some(scope) = &after.scope {
        let _ = write!(url, "&after_scope={}", encode(scope));
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_decodes_the_parameters() {
        let q = Query::parse("scope=pay%20ments&limit=5&after=a%2Fb+c&x=1").unwrap();
        assert_eq!(q.scope.as_deref(), Some("pay ments"));
        assert_eq!(q.limit, Some(5));
        assert_eq!(
            q.after,
            Some(Cursor {
                scope: Some("pay ments".into()),
                identifier: "a/b c".into()
            })
        );
        let q = Query::parse("after=db&after_scope=s").unwrap();
        assert_eq!(q.after.unwrap().scope.as_deref(), Some("s"));
        assert_eq!(Query::parse("limit=0").unwrap().limit, Some(1));
        assert_eq!(Query::parse("limit=999999").unwrap().limit, Some(MAX_LIMIT));
        assert!(Query::parse("limit=ten").is_err());
        assert!(Query::parse("scope=%ff").is_err());
        // A stray % is kept as it is.
        assert_eq!(
            Query::parse("scope=100%").unwrap().scope.as_deref(),
            Some("100%")
        );
        assert_eq!(
            Query::parse("scope=%4").unwrap().scope.as_deref(),
            Some("%4")
        );
    }

    #[test]
    fn next_urls_round_trip() {
        let q = Query::parse("scope=a%26b").unwrap();
        let cursor = Cursor {
            scope: Some("a&b".into()),
            identifier: "x y/é".into(),
        };
        let url = next_url("/brama", "/circuits", &q, 10, &cursor);
        let (path, raw) = url.split_once('?').unwrap();
        assert_eq!(path, "/brama/circuits");
        let back = Query::parse(raw).unwrap();
        assert_eq!(back.after, Some(cursor));
        assert_eq!(back.scope.as_deref(), Some("a&b"));
        assert_eq!(back.limit, Some(10));
    }
}
