//! `Buckets`: rollover, eviction, clears, clean windows, stale tags, packing.

use super::*;

const S: Nanos = 1_000_000_000;
/// The most calls one bucket counts with a slow-call field (262,143).
const MAX_BUCKET_CALLS: u32 = Layout::WITH_SLOW.max_calls();
/// The most calls one bucket counts without a slow-call field (134,217,727).
const MAX_BUCKET_CALLS_WITHOUT_SLOW: u32 = Layout::WITHOUT_SLOW.max_calls();

#[test]
fn outcomes_leave_after_the_window() {
    let b = Buckets::new(Duration::from_secs(10)); // ten buckets of 1 s
    assert_eq!(b.width(), S);
    assert_eq!(b.record(true, false, 0).failures, 1);
    assert_eq!(
        b.record(false, true, S / 2),
        Tallies {
            calls: 2,
            failures: 1,
            slow: 1
        }
    );
    assert_eq!(b.record(false, false, 9 * S).calls, 3);
    // At 10 s the first second's bucket is out of the window.
    assert_eq!(
        b.tallies(10 * S),
        Tallies {
            calls: 1,
            failures: 0,
            slow: 0
        }
    );
    // A report at 10 s rolls bucket 0 over, evicting its two calls.
    assert_eq!(
        b.record(true, false, 10 * S),
        Tallies {
            calls: 2,
            failures: 1,
            slow: 0
        }
    );
    assert_eq!(b.evicted(), 2);
    assert_eq!(4, b.held() + b.evicted());
    // Long idle: everything is out of the window.
    assert_eq!(b.tallies(100 * S), Tallies::default());
}

#[test]
fn a_window_is_clean_while_it_holds_no_failure_and_no_slow_call() {
    let b = Buckets::new(Duration::from_secs(10));
    assert_eq!(b.record_unless_clean(false, false, 0), None);
    // A failure at 3 s: every report sums until it leaves the window at 13 s.
    let t = b.record_unless_clean(true, false, 3 * S).expect("dirty");
    assert_eq!((t.calls, t.failures), (2, 1));
    for at in [3 * S, 7 * S, 12 * S + S / 2] {
        assert_eq!(
            b.record_unless_clean(false, false, at).map(|t| t.failures),
            Some(1),
            "at {at}"
        );
    }
    assert_eq!(b.record_unless_clean(false, false, 13 * S), None);
    assert_eq!(b.tallies(13 * S).failures, 0);
    // A slow call marks it too; a clear makes it clean at once.
    let t = b.record_unless_clean(false, true, 14 * S).expect("dirty");
    assert_eq!((t.calls, t.slow), (4, 1), "7 s, 12.5 s, 13 s and itself");
    b.clear(15 * S);
    assert_eq!(b.record_unless_clean(false, false, 15 * S), None);
    assert_eq!(b.tallies(15 * S).calls, 1);
    // `record` sums whether or not the window is clean.
    assert_eq!(b.record(false, false, 15 * S).calls, 2);
    assert_eq!(9, b.held() + b.evicted());
}

#[test]
fn a_stalled_writer_does_not_roll_a_bucket_back() {
    let b = Buckets::new(Duration::from_secs(10));
    b.record(false, false, 12 * S);
    // A report stamped 2 s (same bucket as 12 s, a window earlier) arrives late.
    let t = b.record(true, false, 2 * S);
    assert_eq!(t, b.tallies(2 * S));
    assert_eq!(
        b.tallies(12 * S),
        Tallies {
            calls: 1,
            failures: 0,
            slow: 0
        }
    );
    assert_eq!(b.evicted(), 1);
    assert_eq!(2, b.held() + b.evicted());
}

#[test]
fn a_clear_empties_the_window_in_place() {
    let b = Buckets::new(Duration::from_secs(10));
    b.record(true, false, 3 * S);
    b.record(true, true, 5 * S);
    b.record(false, false, 5 * S + 1);
    b.clear(5 * S + 2);
    assert_eq!(b.tallies(5 * S + 2), Tallies::default());
    assert_eq!(
        b.tallies(9 * S),
        Tallies::default(),
        "older buckets stay out"
    );
    // A report stamped before the clear's epoch is evicted, not counted.
    b.record(true, false, 4 * S);
    assert_eq!(b.tallies(5 * S + 3), Tallies::default());
    // New reports count, in the clear's epoch and after it.
    b.record(false, true, 5 * S + 3);
    b.record(true, false, 6 * S);
    assert_eq!(
        b.tallies(6 * S),
        Tallies {
            calls: 2,
            failures: 1,
            slow: 1
        }
    );
    assert_eq!(6, b.held() + b.evicted());
}

#[test]
fn the_epoch_is_the_quotient_for_every_width_up_to_its_cap() {
    for width in [
        1u64,
        3,
        7,
        10,
        999,
        1_000_000,
        6_000_000_000,
        u64::MAX / 3,
        u64::MAX,
    ] {
        let b = Buckets {
            width,
            inverse: (u128::from(u64::MAX) + 1)
                .div_euclid(u128::from(width))
                .min(u128::from(u64::MAX)) as u64,
            ..Buckets::new(Duration::from_secs(1))
        };
        let around = [width - 1, width, width.saturating_add(1)];
        let double = 2 * width.min(u64::MAX / 2) - 1;
        for now in [0, 1, double, u64::MAX - 1, u64::MAX]
            .into_iter()
            .chain(around)
        {
            assert_eq!(
                b.epoch(now),
                (now / width).min(MAX_EPOCH),
                "{now} / {width}"
            );
        }
    }
}

#[test]
fn the_window_sums_its_buckets_across_the_tag_wrap() {
    // Ten buckets of 1 s; epochs 1015..1035 cross the tag's wrap (mod 1023).
    let b = Buckets::new(Duration::from_secs(10));
    let mut model: Vec<(u64, bool)> = Vec::new();
    for e in 1015..1035u64 {
        for k in 0..(e % 3 + 1) {
            let failure = (e + k) % 2 == 0;
            b.record(failure, false, e * S + k);
            model.push((e, failure));
        }
        let live: Vec<_> = model.iter().filter(|(m, _)| m + 10 > e).collect();
        let want = Tallies {
            calls: live.len() as u32,
            failures: live.iter().filter(|(_, f)| *f).count() as u32,
            slow: 0,
        };
        assert_eq!(b.tallies(e * S + 5), want, "epoch {e}");
    }
}

#[test]
fn a_bucket_left_alone_for_a_whole_tag_cycle_is_not_taken_for_the_current_one() {
    // Ten buckets of 1 s; the tag repeats every 1,023 epochs of a bucket's own.
    let b = Buckets::new(Duration::from_secs(10));
    assert_eq!(b.record(true, false, 0).failures, 1);
    // 10,230 s later (epoch 10,230: bucket 0 again, the same tag), idle in between.
    let later = 10 * TAG_MOD * S;
    let t = b.record(false, false, later);
    assert_eq!(
        t,
        Tallies {
            calls: 1,
            failures: 0,
            slow: 0
        },
        "the failure of 10,230 s ago is not in a 10 s window"
    );
    assert_eq!(b.tallies(later).failures, 0);
    assert_eq!(2, b.held() + b.evicted());
}

#[test]
fn a_bucket_skipped_by_periodic_traffic_does_not_come_back_a_tag_cycle_later() {
    // A failure and a success 5 s apart, then one success every 10 s, each in
    // bucket 0: bucket 5 is never written again. Its tag comes round every 10,230 s.
    let b = Buckets::new(Duration::from_secs(10));
    b.record(true, false, 5 * S);
    b.record(false, false, 10 * S);
    let mut reports = 2;
    for k in 2..=(TAG_MOD + 2) {
        let t = b.record(false, false, 10 * k * S);
        reports += 1;
        assert_eq!(
            t,
            Tallies {
                calls: 1,
                failures: 0,
                slow: 0
            },
            "at {} s",
            10 * k
        );
        // Mid-window, the skipped bucket's epoch is in the window: still nothing.
        assert_eq!(
            b.tallies(10 * k * S + 5 * S).failures,
            0,
            "at {} s",
            10 * k + 5
        );
    }
    assert_eq!(reports, b.held() + b.evicted());
}

#[test]
fn a_window_read_after_a_whole_tag_cycle_idle_is_empty() {
    let b = Buckets::new(Duration::from_secs(10));
    b.record(true, false, 0);
    b.record(false, true, 3 * S);
    // No report since: nothing has emptied the buckets, and none is summed.
    for at in [13 * S, 10 * TAG_MOD * S, 10 * TAG_MOD * S + 3 * S] {
        assert_eq!(b.tallies(at), Tallies::default(), "at {at}");
    }
    // Within the window, before the next report: both are there.
    assert_eq!(
        b.tallies(9 * S),
        Tallies {
            calls: 2,
            failures: 1,
            slow: 1
        }
    );
    assert_eq!(b.record(false, false, 10 * TAG_MOD * S + 3 * S).calls, 1);
    assert_eq!(3, b.held() + b.evicted());
}

#[test]
fn packing_round_trips() {
    let max = MAX_BUCKET_CALLS;
    let t = Tallies {
        calls: max,
        failures: 7,
        slow: max,
    };
    let l = Layout::WITH_SLOW;
    assert_eq!(l.unpack(l.pack(tag_of(5), t)), (tag_of(5), t));
    assert_eq!(l.unpack(l.pack(TAG_MOD, t)).0, TAG_MOD);
    let wide = Tallies {
        calls: MAX_BUCKET_CALLS_WITHOUT_SLOW,
        failures: MAX_BUCKET_CALLS_WITHOUT_SLOW,
        slow: 0,
    };
    let l = Layout::WITHOUT_SLOW;
    assert_eq!(l.unpack(l.pack(TAG_MOD, wide)), (TAG_MOD, wide));
    assert_eq!(MAX_BUCKET_CALLS_WITHOUT_SLOW, (1 << 27) - 1);
}

#[test]
fn without_a_slow_field_a_bucket_counts_512_times_as_many_calls() {
    // Three 18-bit fields held 262,143 calls a bucket: a 60 s window evicted every
    // outcome past 43,690 calls a second. Without the slow field, 134,217,727.
    let (narrow, wide) = (
        Buckets::new(Duration::from_secs(10)),
        Buckets::without_slow_calls(Duration::from_secs(10)),
    );
    let calls = MAX_BUCKET_CALLS + 1_000;
    for _ in 0..calls {
        narrow.record_unless_clean(false, false, S);
        assert_eq!(wide.record_unless_clean(false, false, S), None);
    }
    assert_eq!(narrow.evicted(), 1_000, "the first 262,143 kept");
    assert_eq!(narrow.tallies(S).calls, MAX_BUCKET_CALLS);
    let t = wide.record(true, false, S);
    assert_eq!((t.calls, t.failures), (calls + 1, 1));
    assert_eq!((wide.evicted(), wide.held()), (0, u64::from(calls) + 1));
}

#[test]
fn a_full_wide_bucket_evicts_and_its_tallies_add_without_overflow() {
    let b = Buckets::without_slow_calls(Duration::from_secs(10));
    let l = Layout::WITHOUT_SLOW;
    let max = MAX_BUCKET_CALLS_WITHOUT_SLOW;
    // Every bucket of the window full of failed calls (as reports would leave them).
    for e in 0..10u64 {
        let full = Tallies {
            calls: max,
            failures: max,
            slow: 0,
        };
        b.slots[(e % N) as usize].store(l.pack(tag_of(e), full), Ordering::Relaxed);
    }
    b.head.store(9, Ordering::Relaxed);
    let t = b.record(true, false, 9 * S);
    assert_eq!((t.calls, t.failures), (10 * max, 10 * max));
    assert_eq!(b.evicted(), 1, "a full bucket evicts");
}
