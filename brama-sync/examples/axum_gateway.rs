//! An axum gateway in front of two upstreams, guarded by one `BramaLayer`.
//!
//! Everything runs in this process, on 127.0.0.1 (ephemeral ports):
//!
//! - `users`, an upstream that answers at once;
//! - `orders`, an upstream that goes bad for a while in the middle of the run: half its
//!   answers are 503, the other half take 300 ms (past the gateway's 150 ms timeout);
//! - the gateway (axum): `GET /users/{id}` and `GET /orders/{id}` forward to the
//!   upstream through hyper's client, wrapped in `BramaLayer` (the connection chosen per
//!   request, `("upstream", name)`) and a timeout. A 5xx or a timeout counts as a
//!   failure; a refused request is answered 503 with `Retry-After` at once, without
//!   reaching the upstream;
//! - a driver that sends both routes to the gateway every 40 ms for four seconds.
//!
//! The circuits' state changes are printed as they happen (`recv_async`), then a
//! summary. `orders` trips, is refused without calls, probes, and closes again once
//! the upstream recovers; `users` is untouched throughout. Ends by itself.
//!
//! With the feature `admin`, the gateway also mounts brama's admin endpoint under
//! `/brama` (`/brama/` the HTML page, `/brama/health`, `/brama/circuits`), as a service
//! mounts it in its own router; `scripts/admin_screenshot.sh` photographs the page
//! during the outage. `BRAMA_GATEWAY_SECONDS` sets how long the run lasts (4 s), and
//! `BRAMA_GATEWAY_OUTAGE_END_MS` when the outage ends (2200 ms).
//!
//! Run with `cargo run --example axum_gateway --features tower` (or
//! `--features tower,admin`).

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State as AxumState};
use axum::http::{header, Request, Response, StatusCode};
use axum::routing::get;
use axum::Router;
use brama_sync::tower::{BramaError, BramaLayer};
use brama_sync::{Brama, EventKind, EventType, Filter, KeyBuf, Options, Outcome};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Service, ServiceBuilder, ServiceExt};

type BoxError = Box<dyn StdError + Send + Sync>;
type Upstreams = BTreeMap<&'static str, SocketAddr>;

/// Which upstream a request goes to: set by the gateway, read by the layer's `key_fn`.
#[derive(Clone, Copy)]
struct Upstream(&'static str);

const RUN: Duration = Duration::from_secs(4);
/// When `orders` is unwell, from the start of the run.
const OUTAGE: (Duration, Duration) = (Duration::from_millis(600), Duration::from_millis(2200));

/// `OUTAGE`, or until `BRAMA_GATEWAY_OUTAGE_END_MS` after the start when set (the
/// screenshot script keeps `orders` unwell longer).
fn outage() -> (Duration, Duration) {
    static END: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    let end = END.get_or_init(|| {
        std::env::var("BRAMA_GATEWAY_OUTAGE_END_MS")
            .ok()
            .and_then(|s| s.parse().ok())
            .map_or(OUTAGE.1, Duration::from_millis)
    });
    (OUTAGE.0, *end)
}

/// Serves `app` on an ephemeral port of 127.0.0.1 and returns the address.
async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a local port");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// The upstream `orders`: healthy, except during `OUTAGE`, when every other answer is
/// a 503 and the rest are slow.
async fn orders(AxumState(started): AxumState<Instant>, Path(id): Path<u32>) -> Response<String> {
    static SEEN: AtomicU64 = AtomicU64::new(0);
    // Relaxed: alternates answers; no other data depends on it.
    let n = SEEN.fetch_add(1, Ordering::Relaxed);
    let t = started.elapsed();
    let (from, to) = outage();
    if t > from && t < to {
        if n % 2 == 0 {
            return plain(StatusCode::SERVICE_UNAVAILABLE, "orders: overloaded".into());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    plain(StatusCode::OK, format!("order {id}"))
}

fn plain(status: StatusCode, body: String) -> Response<String> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r
}

/// The guarded client the gateway forwards through: brama, then a timeout, then hyper.
fn guarded_client(
    brama: Brama,
) -> impl Service<
    Request<Empty<Bytes>>,
    Response = Response<Incoming>,
    Error = BramaError<BoxError>,
    Future = impl Send,
> + Clone
       + Send {
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let key_fn = |req: &Request<Empty<Bytes>>| {
        let name = req
            .extensions()
            .get::<Upstream>()
            .map_or("unknown", |u| u.0);
        KeyBuf::from(("upstream", name))
    };
    let classify = |r: &Result<Response<Incoming>, BoxError>| match r {
        Ok(resp) if resp.status().is_server_error() => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Failure, // a timeout or a refused connection
    };
    ServiceBuilder::new()
        .layer(BramaLayer::new(brama, key_fn).classify(classify))
        .timeout(Duration::from_millis(150))
        .service(client)
}

#[derive(Clone)]
struct Gateway<S> {
    client: S,
    upstreams: Arc<Upstreams>,
}

/// `GET /{upstream}/{id}`: forwards to the upstream through the guarded client.
async fn forward<S>(
    AxumState(gw): AxumState<Gateway<S>>,
    Path((name, id)): Path<(String, u32)>,
) -> Response<String>
where
    S: Service<Request<Empty<Bytes>>, Response = Response<Incoming>, Error = BramaError<BoxError>>
        + Clone,
{
    let Some((&name, addr)) = gw.upstreams.get_key_value(name.as_str()) else {
        return plain(StatusCode::NOT_FOUND, "no such upstream".into());
    };
    let mut req = Request::get(format!("http://{addr}/{name}/{id}"))
        .body(Empty::new())
        .expect("a valid request");
    req.extensions_mut().insert(Upstream(name));
    let mut client = gw.client.clone();
    let out = match client.ready().await {
        Ok(ready) => ready.call(req).await,
        Err(e) => Err(e),
    };
    match out {
        Ok(resp) => plain(resp.status(), format!("via gateway: {}", resp.status())),
        // Refused without calling the upstream: say when to come back.
        Err(e @ BramaError::Rejected { retry_after, .. }) => {
            let secs = retry_after.map_or(1, |d| d.as_secs().max(1));
            let mut resp = plain(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
            resp.headers_mut().insert(header::RETRY_AFTER, secs.into());
            resp
        }
        Err(BramaError::Inner(e)) => plain(StatusCode::GATEWAY_TIMEOUT, e.to_string()),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), brama_sync::Error> {
    let started = Instant::now();

    // The two upstreams.
    let users = serve(Router::new().route(
        "/users/{id}",
        get(|Path(id): Path<u32>| async move { format!("user {id}") }),
    ))
    .await;
    let orders = serve(
        Router::new()
            .route("/orders/{id}", get(orders))
            .with_state(started),
    )
    .await;
    let upstreams: Arc<Upstreams> = Arc::new([("users", users), ("orders", orders)].into());

    // The registry: three failures open a circuit for 400 ms, then one probe.
    let brama = Brama::builder()
        .failure_threshold(3)
        .expiry(Duration::from_millis(400))
        .half_open_probes(1)
        .build()?;
    for name in upstreams.keys() {
        brama.register(("upstream", *name), Options::new())?;
    }
    let sub = brama.subscribe(Filter::new().event_types([EventType::StateChanged]));
    let printer = tokio::spawn(async move {
        while let Some(e) = sub.recv_async().await {
            if let EventKind::StateChanged { from, to, cause } = e.kind {
                println!(
                    "{:>5} ms  circuit upstream/{}: {from} -> {to} ({cause:?})",
                    started.elapsed().as_millis(),
                    e.identifier()
                );
            }
        }
    });

    // The gateway.
    let gateway = Gateway {
        client: guarded_client(brama.clone()),
        upstreams: Arc::clone(&upstreams),
    };
    let app = Router::new()
        .route("/{upstream}/{id}", get(forward))
        .with_state(gateway);
    // brama's admin endpoint, mounted in the gateway's own router.
    #[cfg(feature = "admin")]
    let app = {
        let admin = brama_sync::admin::AdminService::new(brama.clone()).prefix("/brama");
        app.route_service("/brama", admin.clone())
            .route_service("/brama/", admin.clone())
            .route_service("/brama/{*rest}", admin)
    };
    let gw = serve(app).await;
    let run = std::env::var("BRAMA_GATEWAY_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(RUN, Duration::from_secs);
    println!("upstreams users={users} orders={orders}, gateway {gw}; running {run:?}");
    #[cfg(feature = "admin")]
    println!("admin page: http://{gw}/brama/");

    // The driver: both routes every 40 ms.
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut seen: BTreeMap<(&str, u16), u32> = BTreeMap::new();
    let mut id = 0;
    while started.elapsed() < run {
        id += 1;
        let get = |name: &str| {
            let uri = format!("http://{gw}/{name}/{id}");
            client.get(uri.parse().expect("a valid uri"))
        };
        let (u, o) = tokio::join!(get("users"), get("orders"));
        for (name, r) in [("users", u), ("orders", o)] {
            let status = r.map_or(0, |r| r.status().as_u16());
            *seen.entry((name, status)).or_default() += 1;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }

    println!("\nresponses at the gateway (route, status: count):");
    for ((name, status), n) in &seen {
        println!("  {name:<6} {status}: {n}");
    }
    println!("\ncircuits:");
    for s in brama.connections() {
        println!(
            "  upstream/{:<6} {:<8} successes {:>3}  failures {:>3}  refused {:>3}  trips {}",
            s.identifier, s.state, s.total_successes, s.total_failures, s.total_rejected, s.trips
        );
    }
    drop(brama);
    printer.abort();
    Ok(())
}
