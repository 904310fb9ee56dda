//! The admin endpoint's HTML page: rendered on the server, self-contained (no script,
//! no external asset), circuits grouped by scope, states colour-coded, refreshing
//! itself every [`REFRESH_SECONDS`].

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use brama_core::{State, Status, Verdict};

use super::json::shown_state;
use super::query::{encode, next_url, Query};
use super::select::Page;
use crate::brama::Brama;
use crate::observe::journal::Reason;

/// How often the page reloads itself (a meta refresh).
const REFRESH_SECONDS: u32 = 5;

const STYLE: &str = "
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.muted{color:#656d76}.summary{margin:12px 0;display:flex;gap:16px;flex-wrap:wrap;align-items:center}
.verdict{font-weight:600;padding:4px 10px;border-radius:12px;color:#fff}
.healthy{background:#1a7f37}.degraded{background:#bf8700}.unhealthy{background:#cf222e}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #d0d7de}
th{background:#f6f8fa;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.state{font-weight:600;padding:2px 8px;border-radius:10px;color:#fff;white-space:nowrap}
.s-closed{background:#1a7f37}.s-open{background:#cf222e}.s-half_open{background:#bf8700}.s-unknown{background:#6e7781}
tr.r-open td{background:#ffebe9}tr.r-half_open td{background:#fff8c5}
form{display:inline}input{font:inherit;padding:2px 6px}.reason{color:#cf222e}
";

/// Escapes `s` for HTML text and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `d` for a person: `"3d 4h"`, `"2h 5m"`, `"4m 10s"`, `"12s"`, `"350ms"`.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{}ms", d.as_millis()),
        1..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

fn label(state: State) -> &'static str {
    match state {
        State::Unknown => "unknown",
        State::Closed => "closed",
        State::Open => "open",
        State::HalfOpen => "half-open",
    }
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "–".to_owned(), |r| format!("{:.1}%", r * 100.0))
}

/// The page for `page` (the circuits of this request).
pub(super) fn render(
    brama: &Brama,
    prefix: &str,
    query: &Query,
    limit: usize,
    page: &Page,
) -> String {
    let health = match &query.scope {
        Some(scope) => brama.health_in(scope),
        None => brama.health(),
    };
    let verdict = health.verdict();
    let mut h = String::with_capacity(4096 + page.rows.len() * 512);
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>brama: {} circuits, {}</title><style>{STYLE}</style></head><body>",
        health.total(),
        verdict
    );
    let _ = write!(
        h,
        "<h1>brama circuit breakers</h1><div class=\"muted\">{}refreshes every {REFRESH_SECONDS} s · \
         <a href=\"{p}/health\">health (JSON)</a> · <a href=\"{p}/circuits\">circuits (JSON)</a></div>",
        query
            .scope
            .as_deref()
            .map(|s| format!("scope <b>{}</b> · ", esc(s)))
            .unwrap_or_default(),
        p = esc(prefix),
    );
    let class = match verdict {
        Verdict::Healthy => "healthy",
        Verdict::Degraded => "degraded",
        Verdict::Unhealthy => "unhealthy",
    };
    let _ = write!(
        h,
        "<div class=\"summary\"><span class=\"verdict {class}\">{verdict}</span>\
         <span>{} circuits: {} closed, {} open, {} half-open, {} unknown</span>\
         <span class=\"muted\">critical open: {}</span>",
        health.total(),
        health.count(State::Closed),
        health.count(State::Open),
        health.count(State::HalfOpen),
        health.count(State::Unknown),
        health.critical_open(),
    );
    let _ = write!(
        h,
        "<form method=\"get\" action=\"{p}/\"><label>scope <input name=\"scope\" value=\"{}\" \
         size=\"16\"></label> <button type=\"submit\">filter</button></form></div>",
        esc(query.scope.as_deref().unwrap_or("")),
        p = esc(prefix),
    );
    if page.rows.is_empty() {
        h.push_str("<p class=\"muted\">No circuits.</p>");
    }
    let mut current: Option<Option<&str>> = None;
    for (status, reason) in &page.rows {
        let scope = status.scope.as_deref();
        if current != Some(scope) {
            if current.is_some() {
                h.push_str("</tbody></table>");
            }
            current = Some(scope);
            let title =
                scope.map_or_else(|| "(no scope)".to_owned(), |s| format!("scope {}", esc(s)));
            let _ = write!(
                h,
                "<h2>{title}</h2><table><thead><tr><th>identifier</th><th>state</th>\
                 <th>in state for</th><th>failure rate</th><th>successes</th>\
                 <th>failures</th><th>rejected</th><th>trips</th><th>last failure</th>\
                 <th>last error</th></tr></thead><tbody>"
            );
        }
        row(&mut h, brama, status, reason.as_ref());
    }
    if current.is_some() {
        h.push_str("</tbody></table>");
    }
    let _ = write!(
        h,
        "<p class=\"muted\">showing {} of {} circuits",
        page.rows.len(),
        page.total
    );
    if let Some(after) = &page.next {
        let _ = write!(
            h,
            " · <a href=\"{}\">next {limit} →</a>",
            esc(&next_url(prefix, "/", query, limit, after))
        );
    }
    if query.after.is_some() {
        let first = match &query.scope {
            Some(scope) => format!("{prefix}/?scope={}", encode(scope)),
            None => format!("{prefix}/"),
        };
        let _ = write!(h, " · <a href=\"{}\">first page</a>", esc(&first));
    }
    h.push_str("</p></body></html>");
    h
}

fn row(h: &mut String, brama: &Brama, s: &Status, reason: Option<&Reason>) {
    let state = shown_state(brama, s);
    let name = super::json::state_name(state);
    // The status's own "now", so that times agree with `since_state_change`.
    let now = s
        .last_state_change_at
        .checked_add(s.since_state_change)
        .unwrap_or_else(SystemTime::now);
    let ago = |t: SystemTime| {
        now.duration_since(t)
            .map_or_else(|_| "just now".to_owned(), |d| format!("{} ago", human(d)))
    };
    let last_failure = s.last_failure_at.map_or_else(|| "never".to_owned(), ago);
    let last_error = reason.map_or_else(
        || "–".to_owned(),
        |r| {
            format!(
                "<span class=\"reason\">{}</span> <span class=\"muted\">({})</span>",
                esc(&r.text),
                ago(r.at)
            )
        },
    );
    let _ = write!(
        h,
        "<tr class=\"r-{name}\"><td>{}</td><td><span class=\"state s-{name}\">{}</span></td>\
         <td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
        esc(&s.identifier),
        label(state),
        human(s.since_state_change),
        // The rate policy's window rate; under the consecutive policy, failures /
        // reports since registration.
        percent(s.failure_rate.or(s.success_rate().map(|r| 1.0 - r))),
        s.total_successes,
        s.total_failures,
        s.total_rejected,
        s.trips,
        last_failure,
        last_error,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_durations() {
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(human(Duration::from_millis(350)), "350ms");
        assert_eq!(human(Duration::from_secs(12)), "12s");
        assert_eq!(human(Duration::from_secs(250)), "4m 10s");
        assert_eq!(human(Duration::from_secs(7500)), "2h 5m");
        assert_eq!(human(Duration::from_secs(3 * 86_400 + 4 * 3600)), "3d 4h");
        assert_eq!(percent(Some(0.25)), "25.0%");
        assert_eq!(percent(None), "–");
    }
}
