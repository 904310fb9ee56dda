//! Per-connection settings at every entry point: invalid ones rejected, the edges accepted.

use std::time::Duration;

use brama_core::engine::config::MAX_DURATION;
use brama_sync::{Brama, Builder, Error, ExpiryStrategy, Key, Options, State};

use crate::support::{bad_durations, invalid_config, no_panic, populated, rejected};

/// One setting, as `Options` and the builder spell it.
#[derive(Clone, Debug)]
enum Setting {
    Threshold(u32),
    Expiry(Duration),
    Strategy(ExpiryStrategy),
    Jitter(f64),
    Probes(u32),
    ProbeTimeout(Duration),
    /// Metadata entries (options only; the builder has none).
    Metadata(Vec<(String, String)>),
}

impl Setting {
    fn options(&self, o: Options) -> Options {
        match self.clone() {
            Setting::Threshold(n) => o.failure_threshold(n),
            Setting::Expiry(d) => o.expiry(d),
            Setting::Strategy(s) => o.expiry_strategy(s),
            Setting::Jitter(j) => o.jitter(j),
            Setting::Probes(n) => o.half_open_probes(n),
            Setting::ProbeTimeout(d) => o.probe_timeout(d),
            Setting::Metadata(entries) => entries.into_iter().fold(o, |o, (k, v)| o.metadata(k, v)),
        }
    }

    fn builder(&self, b: Builder) -> Option<Builder> {
        Some(match self.clone() {
            Setting::Threshold(n) => b.failure_threshold(n),
            Setting::Expiry(d) => b.expiry(d),
            Setting::Strategy(s) => b.expiry_strategy(s),
            Setting::Jitter(j) => b.jitter(j),
            Setting::Probes(n) => b.half_open_probes(n),
            Setting::ProbeTimeout(d) => b.probe_timeout(d),
            Setting::Metadata(_) => return None,
        })
    }
}

fn progressive(initial: Duration, max: Duration, factor: f64) -> ExpiryStrategy {
    ExpiryStrategy::Progressive {
        initial,
        max,
        factor,
    }
}

fn entries(n: usize, key_len: usize, value_len: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            let k = format!("{i:0>width$}", width = key_len.max(1));
            (k, "v".repeat(value_len))
        })
        .collect()
}

/// Every invalid setting, with the field its error must name.
fn invalid_settings() -> Vec<(Setting, &'static str)> {
    let s = Duration::from_secs(1);
    let mut v = vec![
        (Setting::Threshold(0), "failure_threshold"),
        (Setting::Probes(0), "half_open_probes"),
        (Setting::Probes(65_536), "half_open_probes"),
        (Setting::Probes(u32::MAX), "half_open_probes"),
    ];
    for d in bad_durations() {
        v.push((Setting::Expiry(d), "expiry"));
        v.push((Setting::ProbeTimeout(d), "probe_timeout"));
        v.push((
            Setting::Strategy(progressive(d, MAX_DURATION, 2.0)),
            "expiry_strategy.initial",
        ));
        if !d.is_zero() {
            v.push((
                Setting::Strategy(progressive(s, d, 2.0)),
                "expiry_strategy.max",
            ));
        }
    }
    v.push((
        Setting::Strategy(progressive(s * 2, s, 2.0)),
        "expiry_strategy.max",
    ));
    for j in [
        -f64::MIN_POSITIVE,
        -0.5,
        1.0,
        1.5,
        f64::MAX,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ] {
        v.push((Setting::Jitter(j), "jitter"));
    }
    for f in [
        0.999_999,
        0.0,
        -1.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ] {
        v.push((
            Setting::Strategy(progressive(s, s * 10, f)),
            "expiry_strategy.factor",
        ));
    }
    let euro_key = "€".repeat(43); // 129 bytes
    for m in [
        vec![(String::new(), "v".to_owned())],
        vec![("k".repeat(129), "v".to_owned())],
        vec![(euro_key, "v".to_owned())],
        vec![("k".to_owned(), "v".repeat(1025))],
        vec![("k".to_owned(), "é".repeat(513))], // 1026 bytes
        entries(33, 2, 1),
        entries(9, 3, 1000),                           // 9,027 bytes in all
        entries(10_000, 5, 1),                         // a metadata bomb
        vec![("big".to_owned(), "x".repeat(1 << 20))], // 1 MB value
    ] {
        v.push((Setting::Metadata(m), "metadata"));
    }
    v
}

/// Settings at the edge of their ranges, which must be accepted.
fn edge_settings() -> Vec<Setting> {
    let s = Duration::from_secs(1);
    vec![
        Setting::Threshold(1),
        Setting::Threshold(u32::MAX),
        Setting::Probes(1),
        Setting::Probes(65_535),
        Setting::Expiry(Duration::from_nanos(1)),
        Setting::Expiry(MAX_DURATION),
        Setting::ProbeTimeout(MAX_DURATION),
        Setting::Jitter(0.0),
        Setting::Jitter(-0.0),
        Setting::Jitter(0.999_999_999),
        Setting::Strategy(progressive(s, s, 1.0)),
        Setting::Strategy(progressive(Duration::from_nanos(1), MAX_DURATION, f64::MAX)),
        Setting::Metadata(vec![("k".repeat(128), "v".repeat(1024))]),
        Setting::Metadata(vec![("€".repeat(42) + "ab", "é".repeat(512))]), // 128 and 1024 bytes
        Setting::Metadata(entries(32, 2, 200)),
    ]
}

#[test]
fn every_invalid_setting_is_rejected_by_every_entry_point_and_changes_nothing() {
    let (brama, _clock, sub) = populated(false);
    let mut fresh = 0;
    for (setting, field) in invalid_settings() {
        let what = format!("{setting:?}").chars().take(120).collect::<String>();
        // The builder: no registry, no thread, the documented error.
        if let Some(b) = setting.builder(Brama::builder()) {
            let out = no_panic(&format!("builder {what}"), || b.build());
            match out {
                Err(ref e) if invalid_config(field)(e) => {}
                other => panic!("builder {what}: {other:?}"),
            }
        }
        let options = setting.options(Options::new());
        fresh += 1;
        let id = format!("new-{fresh}");
        rejected(
            &brama,
            &sub,
            &format!("register {what}"),
            || brama.register(id.as_str(), options.clone()),
            invalid_config(field),
        );
        assert!(matches!(
            brama.status(id.as_str()),
            Err(Error::NotFound { .. })
        ));
        for key in [
            Key::new("closed"),
            Key::scoped("s", "open"),
            Key::new("unknown"),
        ] {
            rejected(
                &brama,
                &sub,
                &format!("configure {key:?} {what}"),
                || brama.configure(key, options.clone()),
                invalid_config(field),
            );
        }
        // Metadata belongs to connections: any metadata is refused for the defaults.
        rejected(
            &brama,
            &sub,
            &format!("configure_defaults {what}"),
            || brama.configure_defaults(options.clone()),
            invalid_config(field),
        );
    }
    // Valid metadata is still refused by configure_defaults.
    rejected(
        &brama,
        &sub,
        "configure_defaults with metadata",
        || brama.configure_defaults(Options::new().metadata("a", "b")),
        invalid_config("metadata"),
    );
    // Configure merges metadata: a valid addition that pushes the total past a limit.
    brama
        .configure("closed", Options::new().metadata("m", "x".repeat(1000)))
        .expect("within limits");
    let _ = sub.try_iter().count();
    rejected(
        &brama,
        &sub,
        "configure: merged metadata over the total",
        || {
            brama.configure(
                "closed",
                Setting::Metadata(entries(8, 4, 1000)).options(Options::new()),
            )
        },
        invalid_config("metadata"),
    );
}

#[test]
fn every_edge_setting_is_accepted_everywhere() {
    let (brama, clock, _sub) = populated(false);
    for (i, setting) in edge_settings().into_iter().enumerate() {
        let what = format!("{setting:?}").chars().take(120).collect::<String>();
        if let Some(b) = setting.builder(Brama::builder()) {
            no_panic(&what, || b.build()).unwrap_or_else(|e| panic!("builder {what}: {e:?}"));
        }
        let options = setting.options(Options::new());
        let id = format!("edge-{i}");
        brama
            .register(id.as_str(), options.clone())
            .unwrap_or_else(|e| panic!("register {what}: {e:?}"));
        brama
            .configure(id.as_str(), options.clone())
            .unwrap_or_else(|e| panic!("configure {what}: {e:?}"));
        if !matches!(setting, Setting::Metadata(_)) {
            brama
                .configure_defaults(options)
                .unwrap_or_else(|e| panic!("configure_defaults {what}: {e:?}"));
        }
        // The connection works at the edge: reports, a trip, expiry, status.
        no_panic(&what, || {
            for _ in 0..3 {
                let _ = brama.failure(id.as_str());
                let _ = brama.available(id.as_str());
            }
            clock.advance(MAX_DURATION);
            let _ = brama.available(id.as_str());
            let _ = brama.success(id.as_str());
            brama
                .status(id.as_str())
                .unwrap_or_else(|e| panic!("{what}: status {e:?}"));
            // A hundred idle years later, the sweep evicts the closed connection.
            brama.sweep();
        });
        match brama.unregister(id.as_str()) {
            Ok(_) | Err(Error::NotFound { .. }) => {}
            Err(e) => panic!("{what}: unregister {e:?}"),
        }
    }
}

#[test]
fn u32_max_threshold_counts_without_overflow_and_never_trips_early() {
    let brama = Brama::builder()
        .failure_threshold(u32::MAX)
        .build()
        .expect("valid");
    brama.register("db", Options::new()).expect("fresh");
    for _ in 0..10_000 {
        brama.failure("db").expect("registered");
    }
    let s = brama.status("db").expect("registered");
    assert_eq!((s.state, s.consecutive_failures), (State::Closed, 10_000));
}
