//! Feature `metrics` (issue #17, "Show"): the values reach a real Prometheus endpoint.
//! `metrics-exporter-prometheus` serves its HTTP listener on 127.0.0.1 (its own global
//! recorder: this binary holds this one test), brama publishes, and the test scrapes
//! the endpoint over HTTP and checks the values. ManualClock, manual janitor.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use brama_sync::{Brama, Janitor, Key, ManualClock, Options};
use metrics_exporter_prometheus::PrometheusBuilder;

/// A port of 127.0.0.1 free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a local port")
}

/// `GET /metrics` over HTTP/1.1; the body.
fn scrape(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).expect("the exporter listens");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

/// The value of the sample of `name` whose labels include every one of `labels`.
fn sample(body: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            l.starts_with(&format!("{name}{{"))
                && labels
                    .iter()
                    .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn the_prometheus_endpoint_serves_what_brama_published() {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .expect("exporter installed");

    let clock = ManualClock::new();
    let brama = Brama::builder()
        .failure_threshold(2)
        .clock(clock.clone())
        .janitor(Janitor::Manual)
        .build()
        .unwrap();
    let stripe = Key::scoped("payments", "stripe");
    brama.register(stripe, Options::new()).unwrap();
    brama.register("db", Options::new()).unwrap();
    for _ in 0..5 {
        brama.success(stripe).unwrap();
    }
    brama.failure(stripe).unwrap();
    brama.failure(stripe).unwrap(); // opens
    for _ in 0..3 {
        assert!(!brama.available(stripe));
    }
    brama.success("db").unwrap();
    // The janitor's publish, by hand (to the global recorder: the exporter's).
    brama.publish_metrics();

    let body = scrape(addr);
    let s = [("identifier", "stripe"), ("scope", "payments")];
    let with = |outcome| {
        [
            ("identifier", "stripe"),
            ("scope", "payments"),
            ("outcome", outcome),
        ]
    };
    assert_eq!(
        sample(&body, "brama_calls_total", &with("success")),
        Some(5.0),
        "{body}"
    );
    assert_eq!(
        sample(&body, "brama_calls_total", &with("failure")),
        Some(2.0),
        "{body}"
    );
    assert_eq!(
        sample(&body, "brama_rejected_total", &s),
        Some(3.0),
        "{body}"
    );
    assert_eq!(sample(&body, "brama_trips_total", &s), Some(1.0), "{body}");
    assert_eq!(sample(&body, "brama_state", &s), Some(2.0), "{body}");
    assert_eq!(
        sample(&body, "brama_state", &[("identifier", "db"), ("scope", "")]),
        Some(1.0),
        "{body}"
    );
    assert!(body.lines().any(|l| l == "brama_connections 2"), "{body}");
    assert!(body.contains("# HELP brama_trips_total"), "{body}");
    assert!(body.contains("# TYPE brama_state gauge"), "{body}");

    // A later publish moves the counters (absolute, cumulative).
    brama.close_circuit(stripe).unwrap();
    brama.success(stripe).unwrap();
    brama.publish_metrics();
    let body = scrape(addr);
    assert_eq!(
        sample(&body, "brama_calls_total", &with("success")),
        Some(6.0),
        "{body}"
    );
    assert_eq!(sample(&body, "brama_state", &s), Some(1.0), "{body}");
}
