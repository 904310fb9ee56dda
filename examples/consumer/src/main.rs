//! A service's use of brama, from outside the workspace: the README's example, run for
//! real, with stand-ins for the calls it guards. Only `brama_sync` is imported, as a
//! user depends on that one crate.

use std::io;

fn main() {
    if let Err(e) = readme_example() {
        eprintln!("brama-consumer: {e}");
        std::process::exit(1);
    }
    if let Err(e) = tower_feature() {
        eprintln!("brama-consumer: {e}");
        std::process::exit(1);
    }
}

/// The `tower` feature: one `BramaLayer` in a `ServiceBuilder` picks the connection per
/// request, counts an `Err` as a failure, and refuses the upstream once it trips.
fn tower_feature() -> Result<(), String> {
    use brama_sync::tower::{BramaError, BramaLayer};
    use brama_sync::{Brama, KeyBuf, Options};
    use tower::{service_fn, ServiceBuilder, ServiceExt};

    let brama = Brama::builder().failure_threshold(2).build().map_err(|e| e.to_string())?;
    for name in ["users", "orders"] {
        brama.register(("upstream", name), Options::new()).map_err(|e| e.to_string())?;
    }
    // The request is the upstream's name; "orders" is down.
    let upstream = service_fn(|name: &'static str| async move {
        if name == "orders" { Err(io::Error::other("connection refused")) } else { Ok(name.len()) }
    });
    let svc = ServiceBuilder::new()
        .layer(BramaLayer::new(brama.clone(), |name: &&'static str| KeyBuf::from(("upstream", *name))))
        .service(upstream);
    let call = |name| pollster::block_on(svc.clone().oneshot(name));
    for _ in 0..2 {
        assert!(matches!(call("orders"), Err(BramaError::Inner(_))), "tried, failed");
    }
    match call("orders") {
        Err(BramaError::Rejected { identifier, .. }) => println!("refused without trying: {identifier}"),
        other => return Err(format!("orders should be refused, got {other:?}")),
    }
    assert_eq!(call("users").map_err(|e| e.to_string())?, 5, "users is untouched");
    Ok(())
}

/// The README's "Example", line for line (`.ci/run` compares the lines between the
/// markers with README.md), kept in the README's layout rather than rustfmt's.
#[rustfmt::skip]
fn readme_example() -> Result<(), brama_sync::Error> {
    // README example: begin
    use brama_sync::{Brama, Key, OpenOptions, Options, State};
    use std::time::Duration;

    let brama = Brama::builder().failure_threshold(5).expiry(Duration::from_secs(60)).build()?;
    let stripe = Key::scoped("payments", "stripe");
    brama.register(stripe, Options::new().metadata("team", "billing"))?;

    if brama.available(stripe) {                      // one atomic load when healthy
        match charge() {
            Ok(_) => brama.success(stripe)?,
            Err(e) => brama.failure_with(stripe, &e.to_string())?,
        }
    }
    brama.register("db", Options::new())?;
    let db = brama.connection("db")?;                 // a handle: no lookup per call
    let rows = db.call(|| query("SELECT 1"));         // Ok → success, Err/panic → failure
    println!("{} rows", rows.map_or(0, |rows| rows.len()));
    brama.open_circuit(stripe, OpenOptions::new().reason("maintenance"))?;
    assert_eq!(brama.status(stripe)?.state, State::Open);
    // README example: end

    println!("stripe: {:?}, db: {:?}", brama.status(stripe)?.state, db.status()?.state);
    Ok(())
}

/// Stand-in for a call to a payment provider.
fn charge() -> Result<u64, io::Error> {
    Ok(4200)
}

/// Stand-in for a database query.
fn query(sql: &str) -> Result<Vec<String>, io::Error> {
    Ok(vec![format!("row for {sql}")])
}
