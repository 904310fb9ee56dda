//! Builds a registry from a TOML file (feature `serde`):
//!
//! ```text
//! cargo run -p brama-sync --example config_file --features serde [-- path/to/brama.toml]
//! ```
//!
//! Without an argument it reads `brama-sync/examples/brama.toml`. A misspelt key is
//! rejected with its name, a bad value with the setting it breaks.

use std::process::ExitCode;

use brama_sync::{Brama, Config, Key, Options};

fn main() -> ExitCode {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/examples/brama.toml").to_owned());
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Unknown keys and unreadable durations fail here, naming the key.
    let config: Config = match toml::from_str(&text) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Out-of-range values (a zero threshold, jitter of 1.0, ...) fail here, naming the
    // setting.
    let brama = match Brama::from_config(config.clone()) {
        Ok(brama) => brama,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("loaded {path}:");
    print!("{}", toml::to_string(&config).unwrap_or_default());
    let defaults = brama.defaults();
    println!(
        "\nin force: failure_threshold {}, expiry {:?}, half_open_probes {}, cleanup every {:?}",
        defaults.failure_threshold,
        defaults.expiry,
        defaults.half_open_probes,
        brama.cleanup_interval()
    );

    let stripe = Key::scoped("payments", "stripe");
    if let Err(e) = brama.register(stripe, Options::new()) {
        eprintln!("register: {e}");
        return ExitCode::FAILURE;
    }
    for _ in 0..defaults.failure_threshold {
        let _ = brama.failure_with(stripe, "timeout");
    }
    match brama.acquire(stripe) {
        Ok(_) => println!("payments/stripe admitted a call"),
        // The error names the connection.
        Err(e) => println!("{e}"),
    }
    ExitCode::SUCCESS
}
