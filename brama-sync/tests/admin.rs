//! Feature `admin` (SPEC §10, §13; issue #17): `AdminService` mounted in an axum router
//! and asked over real HTTP on 127.0.0.1: status codes, the JSON's shape, the scope
//! filter, paging, the HTML page, 404 and 405. ManualClock, manual janitor.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::Router;
use brama_sync::admin::{AdminService, DEFAULT_LIMIT};
use brama_sync::{Brama, Janitor, Key, ManualClock, OpenOptions, Options};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Serves `brama`'s admin endpoint under `/brama` in an axum router, on an ephemeral
/// port of 127.0.0.1, beside a route of the application's own.
async fn serve(brama: &Brama) -> SocketAddr {
    let admin = AdminService::new(brama.clone()).prefix("/brama");
    let app = Router::new()
        .route("/app", axum::routing::get(|| async { "the application" }))
        .route_service("/brama", admin.clone())
        .route_service("/brama/", admin.clone())
        .route_service("/brama/{*rest}", admin);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        assert_eq!(self.content_type, "application/json", "{}", self.body);
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn request(addr: SocketAddr, method: &str, path: &str) -> Answer {
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let request = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .body(Empty::new())
        .unwrap();
    let response = client.request(request).await.expect("an answer");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        content_type,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

async fn get(addr: SocketAddr, path: &str) -> Answer {
    request(addr, "GET", path).await
}

fn brama(clock: &ManualClock) -> Brama {
    Brama::builder()
        .failure_threshold(2)
        .expiry(Duration::from_secs(30))
        .clock(clock.clone())
        .janitor(Janitor::Manual)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_200_while_healthy_or_degraded_and_503_when_unhealthy() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama
        .register(
            Key::scoped("payments", "stripe"),
            Options::new().critical(true),
        )
        .unwrap();
    brama
        .register(Key::scoped("search", "elastic"), Options::new())
        .unwrap();
    let addr = serve(&brama).await;

    let a = get(addr, "/brama/health").await;
    assert_eq!(a.status, 200);
    let v = a.json();
    assert_eq!(v["verdict"], "healthy");
    assert_eq!(v["total"], 2);
    assert_eq!(v["counts"]["unknown"], 2);
    assert_eq!(v["scope"], Value::Null);

    brama
        .open_circuit(Key::scoped("search", "elastic"), OpenOptions::new())
        .unwrap();
    let a = get(addr, "/brama/health").await;
    assert_eq!(
        (a.status, a.json()["verdict"].clone()),
        (200, "degraded".into())
    );
    assert_eq!(a.json()["counts"]["open"], 1);

    brama
        .open_circuit(Key::scoped("payments", "stripe"), OpenOptions::new())
        .unwrap();
    let a = get(addr, "/brama/health").await;
    assert_eq!(a.status, 503);
    let v = a.json();
    assert_eq!(v["verdict"], "unhealthy");
    assert_eq!(v["critical_open"], 1);

    // One scope's health.
    let a = get(addr, "/brama/health?scope=search").await;
    assert_eq!(a.status, 200);
    let v = a.json();
    assert_eq!(
        (v["verdict"].clone(), v["scope"].clone()),
        ("degraded".into(), "search".into())
    );
    assert_eq!(v["total"], 1);
    // Past the open duration: half-open, still degraded, no longer unhealthy.
    clock.advance(Duration::from_secs(30));
    let a = get(addr, "/brama/health").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["counts"]["half_open"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circuits_lists_statuses_filtered_by_scope() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let stripe = Key::scoped("payments", "stripe");
    brama
        .register(stripe, Options::new().metadata("team", "billing"))
        .unwrap();
    brama
        .register(Key::scoped("payments", "adyen"), Options::new())
        .unwrap();
    brama.register("db", Options::new()).unwrap();
    // Mounted first: the reasons circuits open for are kept from the first
    // `AdminService` on.
    let addr = serve(&brama).await;
    brama.success(stripe).unwrap();
    brama.failure(stripe).unwrap();
    brama.failure_with(stripe, "timeout").unwrap(); // opens
    assert!(!brama.available(stripe));
    clock.advance(Duration::from_secs(3));

    let a = get(addr, "/brama/circuits").await;
    assert_eq!(a.status, 200);
    let v = a.json();
    assert_eq!(v["total"], 3);
    assert_eq!(v["count"], 3);
    assert_eq!(v["limit"], DEFAULT_LIMIT);
    assert_eq!(v["next"], Value::Null);
    let ids: Vec<&str> = v["circuits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["identifier"].as_str().unwrap())
        .collect();
    // Unscoped first, then by scope and identifier.
    assert_eq!(ids, ["db", "adyen", "stripe"]);
    let s = &v["circuits"][2];
    assert_eq!(s["scope"], "payments");
    assert_eq!(s["state"], "open");
    assert_eq!(s["total_successes"], 1);
    assert_eq!(s["total_failures"], 2);
    assert_eq!(s["total_rejected"], 1);
    assert_eq!(s["trips"], 1);
    assert_eq!(s["success_rate"].as_f64(), Some(1.0 / 3.0));
    // Consecutive policy: no window, so no window rates.
    assert!(s["failure_rate"].is_null() && s["slow_call_rate"].is_null());
    assert_eq!(s["window_calls"].as_u64(), Some(0));
    assert_eq!(s["since_state_change_ms"], 3000);
    assert_eq!(s["open_duration_ms"], 30_000);
    assert_eq!(s["metadata"]["team"], "billing");
    assert_eq!(s["last_reason"]["reason"], "timeout");
    assert!(s["opened_at_ms"].as_u64().unwrap() > 0);
    assert_eq!(v["circuits"][0]["scope"], Value::Null);
    assert_eq!(v["circuits"][0]["last_reason"], Value::Null);

    let a = get(addr, "/brama/circuits?scope=payments").await;
    let v = a.json();
    assert_eq!(v["total"], 2);
    let ids: Vec<&str> = v["circuits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["identifier"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["adyen", "stripe"]);
    let a = get(addr, "/brama/circuits?scope=nope").await;
    assert_eq!((a.status, a.json()["total"].clone()), (200, 0.into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circuits_are_paged_with_limit_and_after() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    // Registered out of order: pages follow the key order, not registration.
    for i in (0..25).rev() {
        brama
            .register(format!("c{i:02}").as_str(), Options::new())
            .unwrap();
        brama
            .register(Key::scoped("s", &format!("k{i:02}")), Options::new())
            .unwrap();
    }
    let addr = serve(&brama).await;
    let mut seen = Vec::new();
    let mut path = "/brama/circuits?limit=7".to_owned();
    let mut pages = 0;
    loop {
        let v = get(addr, &path).await.json();
        pages += 1;
        assert_eq!(v["total"], 50);
        assert!(v["count"].as_u64().unwrap() <= 7);
        for c in v["circuits"].as_array().unwrap() {
            seen.push(format!(
                "{}/{}",
                c["scope"].as_str().unwrap_or("-"),
                c["identifier"].as_str().unwrap()
            ));
        }
        match v["next"].as_str() {
            Some(next) => path = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(pages, 8);
    let mut want: Vec<String> = (0..25).map(|i| format!("-/c{i:02}")).collect();
    want.extend((0..25).map(|i| format!("s/k{i:02}")));
    assert_eq!(seen, want);
    // `after` by hand: an identifier (unscoped, or of the filtered scope).
    let v = get(addr, "/brama/circuits?limit=2&after=c22").await.json();
    assert_eq!(v["circuits"][0]["identifier"], "c23");
    assert_eq!(v["circuits"][1]["identifier"], "c24");
    let v = get(addr, "/brama/circuits?scope=s&limit=3&after=k20")
        .await
        .json();
    let ids: Vec<&str> = v["circuits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["identifier"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["k21", "k22", "k23"]);
    assert_eq!(v["total"], 25);
    let a = get(addr, "/brama/circuits?limit=many").await;
    assert_eq!(a.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_html_rendered_on_the_server() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let stripe = Key::scoped("payments", "stripe");
    brama.register(stripe, Options::new()).unwrap();
    brama
        .register(Key::scoped("search", "<elastic>"), Options::new())
        .unwrap();
    brama.register("db", Options::new()).unwrap();
    let addr = serve(&brama).await;
    brama.success("db").unwrap();
    brama.failure(stripe).unwrap();
    brama.failure_with(stripe, "connection refused").unwrap();
    clock.advance(Duration::from_secs(20)); // within the 30 s open duration

    for path in ["/brama/", "/brama"] {
        let a = get(addr, path).await;
        assert_eq!(a.status, 200, "{path}");
        assert_eq!(a.content_type, "text/html; charset=utf-8");
        let html = a.body;
        // Refreshes itself, needs no script or outside asset.
        assert!(html.contains("http-equiv=\"refresh\""), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
        // Grouped by scope, identifiers escaped, states colour-coded, rates, time in
        // state and the last error readable as served.
        assert!(html.contains("<h2>scope payments</h2>"), "{html}");
        assert!(html.contains("<h2>(no scope)</h2>"), "{html}");
        assert!(html.contains("&lt;elastic&gt;") && !html.contains("<elastic>"));
        assert!(
            html.contains("class=\"state s-open\">open</span>"),
            "{html}"
        );
        assert!(
            html.contains("class=\"state s-closed\">closed</span>"),
            "{html}"
        );
        assert!(html.contains("connection refused"), "{html}");
        assert!(html.contains("<td>20s</td>"), "time in state: {html}");
        assert!(html.contains("20s ago"), "last failure: {html}");
        assert!(html.contains("0.0%") && html.contains("100.0%"), "{html}");
        assert!(html.contains(">degraded<"), "{html}");
    }
    // The scope filter and paging apply to the page too.
    let html = get(addr, "/brama/?scope=search").await.body;
    assert!(
        html.contains("&lt;elastic&gt;") && !html.contains(">stripe<"),
        "{html}"
    );
    let html = get(addr, "/brama/?limit=1").await.body;
    assert!(
        html.contains("showing 1 of 3") && html.contains("next 1"),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_are_404_and_other_methods_405() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let addr = serve(&brama).await;
    assert_eq!(get(addr, "/brama/nope").await.status, 404);
    assert_eq!(get(addr, "/brama/health/x").await.status, 404);
    assert_eq!(get(addr, "/app").await.body, "the application");
    let a = request(addr, "POST", "/brama/health").await;
    assert_eq!(a.status, 405);
    let a = request(addr, "DELETE", "/brama/circuits").await;
    assert_eq!(a.status, 405);
    let a = request(addr, "HEAD", "/brama/health").await;
    assert_eq!((a.status, a.body.as_str()), (200, ""));
}

/// Without a router: the service itself, called directly (paths outside the prefix
/// are 404, a prefix given without its slash works).
#[test]
fn the_service_answers_without_a_server() {
    use tower::{Service, ServiceExt};
    let brama = Brama::builder().janitor(Janitor::Manual).build().unwrap();
    brama.register("db", Options::new()).unwrap();
    let mut admin = AdminService::new(brama).prefix("ops/brama/");
    let mut call = |path: &str| {
        let request = http::Request::get(path).body(()).unwrap();
        let ready = pollster::block_on(ServiceExt::<http::Request<()>>::ready(&mut admin)).unwrap();
        pollster::block_on(ready.call(request)).unwrap()
    };
    assert_eq!(call("/ops/brama/health").status(), 200);
    assert_eq!(call("/ops/brama/circuits").status(), 200);
    assert_eq!(call("/health").status(), 404);
    assert_eq!(call("/ops/bramax/health").status(), 404);
}

/// The service asked directly, without a server.
fn call(admin: &mut AdminService, path: &str) -> http::Response<String> {
    use tower::{Service, ServiceExt};
    let request = http::Request::get(path).body(()).unwrap();
    let ready = pollster::block_on(ServiceExt::<http::Request<()>>::ready(admin)).unwrap();
    pollster::block_on(ready.call(request)).unwrap()
}

/// `last_reason` is the reason the circuit last opened for: an opening without one
/// clears an earlier opening's, on `/circuits` and on the page. (Before, a circuit that
/// opened for "timeout", recovered and tripped again on plain failures still showed
/// "timeout", with the old time.)
#[test]
fn an_opening_without_a_reason_clears_the_last_reason() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.register("db", Options::new()).unwrap();
    let mut admin = AdminService::new(brama.clone());
    let last_reason = |admin: &mut AdminService| {
        let body = call(admin, "/circuits").into_body();
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        v["circuits"][0]["last_reason"].clone()
    };

    brama.failure("db").unwrap();
    brama.failure_with("db", "timeout").unwrap(); // opens
    assert_eq!(last_reason(&mut admin)["reason"], "timeout");
    clock.advance(Duration::from_secs(30));
    assert!(brama.available("db")); // the probe
    brama.success("db").unwrap(); // closes
    assert_eq!(
        last_reason(&mut admin)["reason"],
        "timeout",
        "closed: the last opening's reason still"
    );

    brama.failure("db").unwrap();
    brama.failure("db").unwrap(); // opens, for no reason given
    assert!(!brama.available("db"));
    assert_eq!(last_reason(&mut admin), Value::Null);
    let page = call(&mut admin, "/").into_body();
    assert!(!page.contains("timeout"), "{page}");

    // A manual open with a reason sets it again; one without clears it.
    brama.close_circuit("db").unwrap();
    brama
        .open_circuit("db", OpenOptions::new().reason("maintenance"))
        .unwrap();
    assert_eq!(last_reason(&mut admin)["reason"], "maintenance");
    brama.close_circuit("db").unwrap();
    brama.open_circuit("db", OpenOptions::new()).unwrap();
    assert_eq!(last_reason(&mut admin), Value::Null);
}

/// `/health` answers `Health` as its serde form (feature `serde`) writes it, and that
/// form reads the answer back into the same `Health`: the two JSONs are one.
#[cfg(feature = "serde")]
#[test]
fn health_json_is_the_serde_form_of_health() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama
        .register(
            Key::scoped("payments", "stripe"),
            Options::new().critical(true),
        )
        .unwrap();
    brama
        .register(Key::scoped("search", "elastic"), Options::new())
        .unwrap();
    brama.register("cache", Options::new()).unwrap();
    brama.success("cache").unwrap();
    let mut admin = AdminService::new(brama.clone());
    let mut check = |path: &str, health: brama_sync::Health| {
        let body = call(&mut admin, path).into_body();
        let answered: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(answered, serde_json::to_value(&health).unwrap(), "{path}");
        let read: brama_sync::Health = serde_json::from_str(&body).unwrap();
        assert_eq!(read, health, "{path}");
    };
    check("/health", brama.health());
    brama
        .open_circuit(Key::scoped("search", "elastic"), OpenOptions::new())
        .unwrap();
    brama
        .open_circuit(Key::scoped("payments", "stripe"), OpenOptions::new())
        .unwrap();
    check("/health", brama.health());
    check("/health?scope=payments", brama.health_in("payments"));
    clock.advance(Duration::from_secs(30)); // half-open, the critical one included
    check("/health", brama.health());
}
