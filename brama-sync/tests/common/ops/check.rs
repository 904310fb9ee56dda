//! The comparisons after each op: results, every key's `Status`, the listing, the events.

use std::time::Duration;

use brama_core::engine::rules::{next_open_duration, NEVER};
use brama_sync::{Error, Event, EventKind, Status};

use super::model::Expected;
use super::{Harness, KEYS};

/// Whether two errors are the same variant (and, for `InvalidConfig`, the same field;
/// for `Rejected`, the same state and retry time).
pub(super) fn same_error(real: &Error, model: &Error) -> bool {
    match (real, model) {
        (Error::InvalidConfig { field: a, .. }, Error::InvalidConfig { field: b, .. }) => a == b,
        (Error::InvalidKey { .. }, Error::InvalidKey { .. }) => true,
        _ => real == model,
    }
}

impl Harness {
    pub(super) fn check_result<T: std::fmt::Debug>(
        &self,
        what: &str,
        real: &Result<T, Error>,
        model: &Result<(), Error>,
    ) {
        let ok = match (real, model) {
            (Ok(_), Ok(())) => true,
            (Err(a), Err(b)) => same_error(a, b),
            _ => false,
        };
        assert!(ok, "{}: {what}: real {real:?}, model {model:?}", self.op);
    }

    /// Compares every key's status, the registry's listing and the op's events.
    pub(super) fn compare(&mut self) {
        for (k, key) in KEYS.iter().enumerate() {
            match self.brama.status(*key) {
                Ok(status) => self.check_status_value(k, &status),
                Err(e) => assert!(
                    e == Error::not_found(*key) && self.conns[k].is_none(),
                    "{}: status of key {k}: real {e:?}, model {:?}",
                    self.op,
                    self.conns[k]
                ),
            }
        }
        let mut listed: Vec<(Option<String>, String)> = self
            .brama
            .connections()
            .into_iter()
            .map(|s| (s.scope, s.identifier))
            .collect();
        listed.sort();
        let mut model: Vec<(Option<String>, String)> = (0..KEYS.len())
            .filter(|&k| self.conns[k].is_some())
            .map(|k| {
                (
                    KEYS[k].scope().map(str::to_owned),
                    KEYS[k].identifier().to_owned(),
                )
            })
            .collect();
        model.sort();
        assert_eq!(listed, model, "{}: connections()", self.op);
        assert_eq!(self.brama.len(), self.live(), "{}: len()", self.op);
        self.check_events();
    }

    pub(super) fn check_status_value(&self, k: usize, s: &Status) {
        let c = self.conns[k]
            .as_ref()
            .unwrap_or_else(|| panic!("{}: real has key {k}, model does not: {s:?}", self.op));
        let op = &self.op;
        let cfg = self.config(k);
        assert_eq!(s.identifier, KEYS[k].identifier(), "{op}");
        assert_eq!(s.scope.as_deref(), KEYS[k].scope(), "{op}");
        assert_eq!(s.state, c.m.state, "{op}: state of key {k}");
        assert_eq!(
            s.consecutive_failures, c.m.consecutive,
            "{op}: consecutive failures of key {k}"
        );
        assert_eq!(
            (
                s.total_successes,
                s.total_failures,
                s.total_rejected,
                s.trips
            ),
            (c.successes, c.failures, c.rejected, c.trips),
            "{op}: totals (successes, failures, rejected, trips) of key {k}"
        );
        let open = next_open_duration(&c.m, &cfg);
        let open = if open == NEVER {
            Duration::MAX
        } else {
            Duration::from_nanos(open)
        };
        assert_eq!(s.open_duration, open, "{op}: open duration of key {k}");
        let at = |t: Option<u64>| t.map(|t| Duration::from_nanos(t - c.registered_at));
        let since_reg = |t: Option<std::time::SystemTime>| {
            t.map(|t| {
                t.duration_since(s.registered_at)
                    .expect("after registration")
            })
        };
        assert_eq!(
            since_reg(s.last_success_at),
            at(c.last_success),
            "{op}: last success of key {k}"
        );
        assert_eq!(
            since_reg(s.last_failure_at),
            at(c.last_failure),
            "{op}: last failure of key {k}"
        );
        assert_eq!(
            since_reg(s.opened_at),
            at(c.opened_at),
            "{op}: opened at of key {k}"
        );
        assert_eq!(
            since_reg(Some(s.last_state_change_at)),
            at(Some(c.changed_at)),
            "{op}: last state change of key {k}"
        );
        assert_eq!(
            s.since_state_change,
            Duration::from_nanos(self.now - c.changed_at),
            "{op}: since state change of key {k}"
        );
        assert_eq!(s.metadata, c.metadata, "{op}: metadata of key {k}");
        assert_eq!(s.mode, self.mode_of(k), "{op}: mode of key {k}");
    }

    fn check_events(&mut self) {
        let real: Vec<Event> = self.sub.try_iter().collect();
        let op = &self.op;
        for e in &real {
            assert_eq!(
                e.seq,
                self.last_seq + 1,
                "{op}: sequence numbers are gap-free: {real:?}"
            );
            self.last_seq = e.seq;
        }
        assert_eq!(self.sub.dropped(), 0, "{op}: the subscriber lost events");
        let key_of = |e: &Event| {
            e.key()
                .map(|key| KEYS.iter().position(|k| *k == key).expect("one of KEYS"))
        };
        // Within one op, events of different keys may interleave in any order (the sweep
        // visits the map in its own order); each key's events, and the registry-wide
        // ones, must come exactly in the model's order.
        for key in [None, Some(0), Some(1), Some(2), Some(3)] {
            let got: Vec<Expected> = real
                .iter()
                .filter(|e| key_of(e) == key)
                .map(|e| Expected {
                    key,
                    kind: e.kind.clone(),
                    state: e.state,
                    counts: e.counts,
                    reason: e.reason.clone(),
                })
                .collect();
            let want: Vec<Expected> = self
                .expected
                .iter()
                .filter(|e| e.key == key)
                .cloned()
                .collect();
            assert_eq!(got, want, "{op}: events of key {key:?}");
        }
        if let Some(i) = real
            .iter()
            .position(|e| matches!(e.kind, EventKind::Swept { .. }))
        {
            assert_eq!(
                i + 1,
                real.len(),
                "{op}: Swept is the last event of a sweep"
            );
        }
    }
}
