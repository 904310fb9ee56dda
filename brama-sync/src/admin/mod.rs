//! An admin endpoint (feature `admin`, SPEC §10): what Spring Boot Actuator's
//! `/health` and `/circuitbreakers` are to resilience4j users, as a tower [`Service`]
//! over `http` requests that a service mounts in its own router.
//!
//! | request | answer |
//! |---|---|
//! | `GET <prefix>/health` (`?scope=`) | [`Health`](crate::Health) as JSON: 200 when `healthy` or `degraded`, 503 when `unhealthy` |
//! | `GET <prefix>/circuits` (`?scope=`, `?limit=`, `?after=`, `?after_scope=`) | one page of statuses as JSON, ordered by scope then identifier |
//! | `GET <prefix>/` (same parameters) | a self-contained HTML page of the circuits by scope, rendered on the server, refreshing itself |
//! | another path under the prefix, or outside it | 404 |
//! | another method than `GET` or `HEAD` | 405, with `Allow: GET, HEAD` |
//!
//! Paging keeps it usable at 100k connections: `/circuits` answers at most
//! [`DEFAULT_LIMIT`] circuits unless `?limit=` asks for more (up to [`MAX_LIMIT`]), and
//! its `next` field is the URL of the next page. Each request walks the connections
//! once without a lock (as [`Brama::health`] does), keeping only the page's keys, and
//! takes the statuses of those alone.
//!
//! # Examples
//! ```
//! use brama_sync::admin::AdminService;
//! use brama_sync::{Brama, Options};
//! use tower::{Service, ServiceExt};
//!
//! let brama = Brama::new();
//! brama.register("db", Options::new())?;
//! let mut admin = AdminService::new(brama).prefix("/brama");
//! let request = http::Request::get("/brama/health").body(()).unwrap();
//! let ready = pollster::block_on(ServiceExt::<http::Request<()>>::ready(&mut admin)).unwrap();
//! let response = ready.call(request);
//! let response = pollster::block_on(response).unwrap();
//! assert_eq!(response.status(), 200);
//! assert!(response.body().contains(r#""verdict":"healthy""#));
//! # Ok::<(), brama_sync::Error>(())
//! ```

mod json;
mod page;
mod query;
mod select;

use std::convert::Infallible;
use std::fmt;
use std::future::{ready, Ready};
use std::task::{Context, Poll};

use http::{header, Method, Request, Response, StatusCode};
use tower_service::Service;

use crate::brama::Brama;

pub use query::{DEFAULT_LIMIT, MAX_LIMIT, PAGE_LIMIT};

/// The admin endpoint's service: see the [module docs](self). Cheap to clone (it holds
/// a [`Brama`] clone and the prefix); always ready; never fails (every answer,
/// including 404 and 405, is a response).
#[derive(Clone)]
pub struct AdminService {
    brama: Brama,
    prefix: String,
}

impl AdminService {
    /// The endpoint over `brama`, at the root (`/health`, `/circuits`, `/`).
    ///
    /// The first one made for a registry subscribes it to its rare events (state
    /// changes, removals, configuration changes, sweeps; never reports), to keep the
    /// reason each circuit last opened for, which `/circuits` and the page show.
    pub fn new(brama: Brama) -> AdminService {
        brama.observers().start_journal(brama.reg());
        AdminService {
            brama,
            prefix: String::new(),
        }
    }

    /// Serves under `prefix` (e.g. `"/brama"`: `/brama/health`, `/brama/circuits`,
    /// `/brama/`). A trailing `/` is ignored, and a missing leading one added.
    pub fn prefix(mut self, prefix: impl Into<String>) -> AdminService {
        let prefix = prefix.into();
        let trimmed = prefix.trim_end_matches('/');
        self.prefix = if trimmed.is_empty() || trimmed.starts_with('/') {
            trimmed.to_owned()
        } else {
            format!("/{trimmed}")
        };
        self
    }

    /// The answer to `method` on `uri`'s path and query.
    fn answer(&self, method: &Method, path: &str, query: Option<&str>) -> Response<String> {
        let Some(rest) = path.strip_prefix(self.prefix.as_str()) else {
            return not_found();
        };
        let route = match rest {
            "" | "/" => Route::Page,
            "/health" => Route::Health,
            "/circuits" => Route::Circuits,
            _ => return not_found(),
        };
        if method != Method::GET && method != Method::HEAD {
            return respond(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain; charset=utf-8",
                "method not allowed: use GET\n".to_owned(),
            )
            .map(|mut r| {
                r.headers_mut()
                    .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
                r
            })
            .unwrap_or_else(|_| not_found());
        }
        let query = match query::Query::parse(query.unwrap_or("")) {
            Ok(q) => q,
            Err(message) => {
                return plain(StatusCode::BAD_REQUEST, format!("bad query: {message}\n"))
            }
        };
        // Events since the last janitor round: the page's reasons are current. A
        // `tracing` subscriber that panics while they are logged (the reasons are noted
        // first) fails no request: the panic hook has reported it.
        let brama = &self.brama;
        let round = || brama.observers().round(brama.reg());
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(round));
        let mut response = match route {
            Route::Health => {
                let health = match &query.scope {
                    Some(scope) => self.brama.health_in(scope),
                    None => self.brama.health(),
                };
                let status = match health.verdict() {
                    crate::Verdict::Unhealthy => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::OK,
                };
                json(status, &json::health(&health))
            }
            Route::Circuits => {
                let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
                let page = select::page(&self.brama, &query, limit);
                let next = page
                    .next
                    .as_ref()
                    .map(|after| query::next_url(&self.prefix, "/circuits", &query, limit, after));
                json(
                    StatusCode::OK,
                    &json::circuits(&self.brama, &page, limit, next),
                )
            }
            Route::Page => {
                let limit = query.limit.unwrap_or(PAGE_LIMIT);
                let page = select::page(&self.brama, &query, limit);
                let html = page::render(&self.brama, &self.prefix, &query, limit, &page);
                respond(StatusCode::OK, "text/html; charset=utf-8", html)
                    .unwrap_or_else(|_| not_found())
            }
        };
        if method == Method::HEAD {
            response.body_mut().clear();
        }
        response
    }
}

/// The three answers under the prefix.
#[derive(Clone, Copy)]
enum Route {
    Page,
    Health,
    Circuits,
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> http::Result<Response<String>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-store")
        .body(body)
}

fn plain(status: StatusCode, body: String) -> Response<String> {
    respond(status, "text/plain; charset=utf-8", body).unwrap_or_else(|_| {
        let mut r = Response::new(String::new());
        *r.status_mut() = status;
        r
    })
}

fn not_found() -> Response<String> {
    plain(StatusCode::NOT_FOUND, "not found\n".to_owned())
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<String> {
    match serde_json::to_string(value) {
        Ok(body) => respond(status, "application/json", body).unwrap_or_else(|_| not_found()),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
    }
}

impl<B> Service<Request<B>> for AdminService {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    /// Answers at once (the future is ready): the work is a walk of the connections,
    /// done on the calling task.
    fn call(&mut self, request: Request<B>) -> Self::Future {
        let uri = request.uri();
        ready(Ok(self.answer(request.method(), uri.path(), uri.query())))
    }
}

impl fmt::Debug for AdminService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminService")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}
