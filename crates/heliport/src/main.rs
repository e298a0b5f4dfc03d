//! The `heliport` binary: the gateway server and its operator commands.

mod config;
mod memory;
mod seed;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use heliport_store::MetaStore;

use crate::config::Config;

#[derive(Parser)]
#[command(
    name = "heliport",
    version,
    about = "A self-hosted LLM gateway with built-in observability"
)]
struct Cli {
    /// Configuration file (TOML). Every setting can also come from HELIPORT_* variables.
    #[arg(long, global = true, env = "HELIPORT_CONFIG")]
    config: Option<PathBuf>,
    /// Database URL (sqlite://FILE); overrides the config and HELIPORT_DATABASE_URL.
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// Address to listen on (default 127.0.0.1:8787).
        #[arg(long)]
        listen: Option<String>,
        /// A price table file (the shipped JSON format) merged over the built-in one.
        #[arg(long)]
        prices: Option<PathBuf>,
        /// `required` or `optional`.
        #[arg(long)]
        auth_mode: Option<String>,
    },
    /// Manage heliport API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage organizations.
    #[command(subcommand)]
    Orgs(OrgsCommand),
    /// Inspect the price table.
    #[command(subcommand)]
    Prices(PricesCommand),
    /// Run a mock LLM provider (OpenAI, Anthropic and Gemini shapes) for trying heliport without a provider key.
    Mock {
        #[arg(long, default_value = "127.0.0.1:9999")]
        listen: std::net::SocketAddr,
        /// Serve HTTPS with this PEM certificate chain (offering HTTP/2 and HTTP/1.1); needs --tls-key.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// With TLS, offer HTTP/1.1 only (an upstream without HTTP/2).
        #[arg(long, requires = "tls_cert")]
        http1_only: bool,
    },
    /// Create or upgrade the database schema (and roll up records stored before the rollups existed), then exit.
    Migrate,
    /// Generate realistic synthetic history (models, providers, users, sessions, properties, errors,
    /// streams, cache hits, retries, prompts) through the record writer's insert path, for demos and benchmarks.
    Seed {
        /// Requests to generate.
        #[arg(long)]
        rows: u64,
        /// Days of history, ending now.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Organization name or id (default: the default organization).
        #[arg(long)]
        org: Option<String>,
        /// Random seed: the same seed gives the same history.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key; it is printed once and stored only as a SHA-256 hash.
    Create {
        #[arg(long)]
        name: String,
        /// rw (default), r or w. Proxying needs w; reading the REST API needs r.
        #[arg(long, default_value = "rw")]
        permissions: String,
        /// Organization name or id (default: the default organization).
        #[arg(long)]
        org: Option<String>,
    },
    /// List keys: name, prefix, permissions, created, last used.
    List,
    /// Revoke a key by id, name or prefix.
    Revoke { key: String },
    /// Import a key made by Helicone by its SHA-256 hash, so existing clients keep working.
    Import {
        #[arg(long)]
        hash: String,
        #[arg(long, default_value = "imported")]
        name: String,
        #[arg(long, default_value = "rw")]
        permissions: String,
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Subcommand)]
enum OrgsCommand {
    Create { name: String },
    List,
}

#[derive(Subcommand)]
enum PricesCommand {
    /// What a model costs, per provider.
    Show {
        model: String,
        #[arg(long)]
        provider: Option<String>,
        /// A price table file merged over the built-in one.
        #[arg(long)]
        prices: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    memory::limit_malloc_arenas();
    let cli = Cli::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if matches!(cli.command, Command::Serve { .. }) {
        // Requests run on request threads of their own; this runtime keeps
        // the listener's accept loop and the background tasks.
        builder.worker_threads(1);
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("heliport: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // `serve` owns the runtime (its record writer must outlive it); the other
    // commands just run on it.
    let result = match &cli.command {
        Command::Serve {
            listen,
            prices,
            auth_mode,
        } => load_config(&cli).and_then(|mut cfg| {
            if let Some(l) = listen {
                cfg.listen = l.clone();
            }
            if let Some(p) = prices {
                cfg.prices.file = Some(p.clone());
            }
            if let Some(m) = auth_mode {
                cfg.auth.mode = m.clone();
            }
            serve::serve_blocking(runtime, cfg)
        }),
        Command::Mock {
            listen,
            tls_cert,
            tls_key,
            http1_only,
        } => runtime.block_on(mock(
            *listen,
            tls_cert.as_deref().zip(tls_key.as_deref()),
            *http1_only,
        )),
        Command::Migrate => runtime.block_on(migrate(&cli)),
        Command::Seed {
            rows,
            days,
            org,
            seed,
        } => runtime.block_on(seed_history(&cli, *rows, *days, org.clone(), *seed)),
        Command::Keys(k) => runtime.block_on(async { keys(&load_config(&cli)?, k).await }),
        Command::Orgs(o) => runtime.block_on(async { orgs(&load_config(&cli)?, o).await }),
        Command::Prices(PricesCommand::Show {
            model,
            provider,
            prices,
        }) => show_prices(&cli, model, provider.as_deref(), prices.as_ref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("heliport: {e}");
            ExitCode::FAILURE
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn load_config(cli: &Cli) -> Result<Config, BoxError> {
    let mut cfg = Config::load(cli.config.as_deref())?;
    if let Some(db) = &cli.database_url {
        cfg.database_url = db.clone();
    }
    Ok(cfg)
}

async fn mock(
    listen: std::net::SocketAddr,
    tls: Option<(&std::path::Path, &std::path::Path)>,
    http1_only: bool,
) -> Result<(), BoxError> {
    init_logging("info", "text");
    let tls = match tls {
        Some((cert, key)) => {
            let t = heliport_mock::MockTls::from_files(cert, key)?;
            Some(if http1_only { t.http1_only() } else { t })
        }
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("heliport mock provider listening on {scheme}://{listen}");
    heliport_mock::run(listen, tls).await?;
    Ok(())
}

async fn migrate(cli: &Cli) -> Result<(), BoxError> {
    let cfg = load_config(cli)?;
    heliport_store::SqliteStore::open(&cfg.database_url).await?;
    if !cfg.database_url.contains(":memory:") {
        // Opening the writer's connection rolls up records stored before
        // the rollups existed.
        let url = cfg.database_url.clone();
        tokio::task::spawn_blocking(move || {
            heliport_store::sqlite::sink::SqliteRecordSink::open(&url).map(|_| ())
        })
        .await??;
    }
    println!(
        "database {} is up to date",
        heliport_core::redact::redact_query(&cfg.database_url)
    );
    Ok(())
}

async fn seed_history(
    cli: &Cli,
    rows: u64,
    days: u32,
    org: Option<String>,
    seed: u64,
) -> Result<(), BoxError> {
    let cfg = load_config(cli)?;
    let (store, default_org) = open_store(&cfg).await?;
    let org = match org {
        Some(name) => store.find_org(&name).await?,
        None => default_org,
    };
    let prices = serve::load_prices(&cfg)?;
    let url = cfg.database_url.clone();
    let opts = seed::SeedOptions {
        rows,
        days,
        org_id: org.id.clone(),
        seed,
    };
    println!(
        "seeding {rows} requests over {days} days into organization '{}'",
        org.name
    );
    let (written, secs) = tokio::task::spawn_blocking(move || {
        let sink = heliport_store::sqlite::sink::SqliteRecordSink::open(&url)?;
        let mut last = std::time::Instant::now();
        seed::seed(&sink, &prices, &opts, |done, total| {
            if last.elapsed().as_secs() >= 5 {
                last = std::time::Instant::now();
                eprintln!("  {done} / {total}");
            }
        })
    })
    .await??;
    println!(
        "wrote {written} records (attempts of retried requests included) in {secs:.1} s ({:.0} records/s)",
        written as f64 / secs.max(1e-9)
    );
    Ok(())
}

fn show_prices(
    cli: &Cli,
    model: &str,
    provider: Option<&str>,
    prices: Option<&PathBuf>,
) -> Result<(), BoxError> {
    let mut cfg = load_config(cli)?;
    if let Some(p) = prices {
        cfg.prices.file = Some(p.clone());
    }
    let table = serve::load_prices(&cfg)?;
    let found = table.describe(model, provider, chrono::Utc::now());
    if found.is_empty() {
        return Err(format!(
            "no price for model '{model}'{}: requests for it are recorded as unpriced",
            provider
                .map(|p| format!(" at provider '{p}'"))
                .unwrap_or_default()
        )
        .into());
    }
    for d in found {
        println!("{d}");
    }
    Ok(())
}

/// Logs go to stderr: coloured only on a terminal, and one JSON object per
/// line with `log_format = "json"` (`HELIPORT_LOG_FORMAT`).
pub(crate) fn init_logging(filter: &str, format: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = if format.eq_ignore_ascii_case("json") {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

async fn open_store(
    cfg: &Config,
) -> Result<
    (
        heliport_store::SqliteStore,
        heliport_store::keys::Organization,
    ),
    BoxError,
> {
    let store = heliport_store::SqliteStore::open(&cfg.database_url).await?;
    let default_org = store.ensure_default_org().await?;
    Ok((store, default_org))
}

fn fmt_time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "never".into())
}

async fn keys(cfg: &Config, cmd: &KeysCommand) -> Result<(), BoxError> {
    use heliport_store::keys::Permissions;
    let (store, default_org) = open_store(cfg).await?;
    let org_for = |o: &Option<String>| {
        let store = store.clone();
        let default_org = default_org.clone();
        let o = o.clone();
        async move {
            match o {
                Some(name) => store.find_org(&name).await,
                None => Ok(default_org),
            }
        }
    };
    match cmd {
        KeysCommand::Create {
            name,
            permissions,
            org,
        } => {
            let perms = Permissions::parse(permissions)?;
            let org = org_for(org).await?;
            let (info, key) = store.create_key(&org.id, name, perms).await?;
            println!(
                "Created key '{}' ({}) in organization '{}'.",
                info.name,
                perms.as_str(),
                org.name
            );
            println!();
            println!("    {key}");
            println!();
            println!(
                "Store it now: heliport keeps only its SHA-256 hash and cannot show it again."
            );
        }
        KeysCommand::List => {
            let orgs = store.list_orgs().await?;
            let org_name = |id: &str| {
                orgs.iter()
                    .find(|o| o.id == id)
                    .map(|o| o.name.clone())
                    .unwrap_or_else(|| id.to_string())
            };
            println!(
                "{:<36}  {:<16}  {:<24}  {:<5}  {:<12}  {:<19}  {:<19}  STATUS",
                "ID", "NAME", "PREFIX", "PERMS", "ORG", "CREATED", "LAST USED"
            );
            for k in store.list_keys().await? {
                println!(
                    "{:<36}  {:<16}  {:<24}  {:<5}  {:<12}  {:<19}  {:<19}  {}",
                    k.id,
                    k.name,
                    k.prefix,
                    k.permissions.as_str(),
                    org_name(&k.org_id),
                    fmt_time(Some(k.created_at)),
                    fmt_time(k.last_used_at),
                    if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    }
                );
            }
        }
        KeysCommand::Revoke { key } => {
            let k = store.revoke_key(key).await?;
            println!("Revoked key '{}' ({}).", k.name, k.prefix);
        }
        KeysCommand::Import {
            hash,
            name,
            permissions,
            org,
        } => {
            let perms = Permissions::parse(permissions)?;
            let org = org_for(org).await?;
            let k = store.import_key(&org.id, name, hash, perms).await?;
            println!(
                "Imported key '{}' ({}) into organization '{}'.",
                k.name,
                perms.as_str(),
                org.name
            );
        }
    }
    Ok(())
}

async fn orgs(cfg: &Config, cmd: &OrgsCommand) -> Result<(), BoxError> {
    let (store, _) = open_store(cfg).await?;
    match cmd {
        OrgsCommand::Create { name } => {
            let o = store.create_org(name).await?;
            println!("Created organization '{}' ({}).", o.name, o.id);
        }
        OrgsCommand::List => {
            for o in store.list_orgs().await? {
                println!(
                    "{}  {}{}",
                    o.id,
                    o.name,
                    if o.is_default { "  (default)" } else { "" }
                );
            }
        }
    }
    Ok(())
}
