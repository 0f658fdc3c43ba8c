//! The `guichet` command: `run`, `check`, `demo`, `keygen`.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use guichet::config::Config;
use guichet::server::{self, RunOptions};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "guichet",
    version,
    about = "Authenticating reverse proxy for FranceConnect, FranceConnect+ and MConnect"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Run {
        #[arg(long, short, default_value = "guichet.toml")]
        config: PathBuf,
        /// Take over the listeners of a running guichet (zero-downtime upgrade).
        #[arg(long)]
        upgrade: bool,
        /// Socket used to hand listeners over during an upgrade (default
        /// /run/guichet/upgrade.sock; its directory must be guichet's own, mode 0700, and is
        /// created so when missing).
        #[arg(long)]
        upgrade_sock: Option<String>,
    },
    /// Validate a configuration and print the effective values, secrets redacted.
    Check {
        #[arg(long, short, default_value = "guichet.toml")]
        config: PathBuf,
    },
    /// Start a mock provider, an echo app and the gateway in front of them, on loopback.
    Demo {
        /// Gateway port on 127.0.0.1.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Which mock provider: fc (FranceConnect v2), fc-v1, fc-plus (FranceConnect+),
        /// mconnect, generic, or all (fc, fc-plus and mconnect on one chooser).
        #[arg(long, default_value = "fc")]
        provider: String,
    },
    /// Print a new private key (PEM) for a `file:`/`env:` key setting, then its public JWK.
    Keygen {
        /// ES256 (assertion signing), RSA-OAEP, RSA-OAEP-256 or ECDH-ES (FranceConnect+
        /// encryption); A256GCM prints a key for `[session] seal_keys` instead.
        #[arg(long, default_value = "ES256")]
        alg: String,
        /// Key id; default: the key's RFC 7638 thumbprint.
        #[arg(long)]
        kid: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Command::Run {
            config,
            upgrade,
            upgrade_sock,
        } => {
            let cfg = match Config::from_file(&config) {
                Ok(c) => c,
                Err(e) => return config_error(&e),
            };
            match server::run(
                cfg,
                RunOptions {
                    upgrade,
                    upgrade_sock,
                },
            ) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("guichet: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Check { config } => match Config::from_file(&config) {
            Ok(cfg) => {
                println!("# {}: valid", config.display());
                // A name that does not resolve now is not an error: guichet starts and keeps
                // resolving it (DNS may not be ready yet when a pod starts).
                if let Some(warning) = guichet::upstream::check_now(&cfg.upstream) {
                    eprintln!("guichet: warning: {}: {warning}", config.display());
                }
                print!("{}", cfg.to_effective_toml());
                ExitCode::SUCCESS
            }
            Err(e) => config_error(&e),
        },
        Command::Demo { port, provider } => match guichet::demo::run(port, &provider) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("guichet: {e}");
                ExitCode::from(2)
            }
        },
        Command::Keygen { alg, .. } if alg == "A256GCM" => {
            println!("{}", guichet::session::seal::generate_key());
            ExitCode::SUCCESS
        }
        Command::Keygen { alg, kid } => match guichet::keys::generate(&alg, kid.as_deref()) {
            Ok((pem, jwk)) => {
                print!("{pem}");
                println!("{jwk}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("guichet: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn config_error(e: &guichet::config::ConfigError) -> ExitCode {
    eprintln!("guichet: configuration error: {e}");
    ExitCode::from(2)
}

/// Logs go to stderr (the evidence log owns stdout by default). `GUICHET_LOG` sets the filter
/// (default `info`), `GUICHET_LOG_FORMAT=json` switches to JSON lines.
///
/// pingora is capped at `info` whatever the filter says: at `debug` it prints whole request
/// headers (cookies, identity headers, the assertion), which must never reach a log
/// (`tests/ops.rs::no_personal_data_or_token_in_any_log` runs at `debug`).
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("GUICHET_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = match "pingora=info".parse() {
        Ok(cap) => filter.add_directive(cap),
        Err(_) => filter,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("GUICHET_LOG_FORMAT").is_ok_and(|v| v == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
