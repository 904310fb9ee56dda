//! A service's use of brama, from outside the workspace: the README's example, run for
//! real, with stand-ins for the calls it guards. Only `brama_sync` is imported, as a
//! user depends on that one crate.

use std::io;

fn main() {
    if let Err(e) = readme_example() {
        eprintln!("brama-consumer: {e}");
        std::process::exit(1);
    }
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
