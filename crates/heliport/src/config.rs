//! heliport's configuration: one TOML file, overridden by `HELIPORT_*`
//! environment variables, overridden by command-line flags.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use heliport_core::pricing::ModelPriceOverride;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the one listener binds.
    pub listen: String,
    /// `sqlite://FILE`.
    pub database_url: String,
    /// Log filter (`info`, `heliport=debug`, ...).
    pub log: String,
    /// `text` (default) or `json`: one JSON object per log line.
    pub log_format: String,
    pub auth: AuthConfig,
    pub gateway: GatewayConfig,
    pub recording: RecordingConfig,
    pub prices: PricesConfig,
    pub redis: RedisConfig,
    pub cache: CacheConfig,
    pub rate_limit: RateLimitConfig,
    pub store: StoreConfig,
    /// Provider base URLs and operator-defined providers.
    pub providers: BTreeMap<String, ProviderConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `required` (default) or `optional`.
    pub mode: String,
    /// How often keys are reloaded from the database (revocations).
    pub key_refresh_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// URL prefixes exempt from the private-address check for client-supplied targets.
    pub allowed_targets: Vec<String>,
    pub max_body_bytes: usize,
    pub upstream_timeout_secs: u64,
    /// Longest silence inside a response stream before it is cut (recorded as upstream_timeout).
    pub stream_idle_timeout_secs: u64,
    pub connect_timeout_secs: u64,
    /// After SIGTERM, how long in-flight requests may take before they are cut (and recorded as cancelled).
    pub shutdown_grace_secs: u64,
    /// Longest pause while a request body arrives before heliport answers 408.
    pub body_read_timeout_secs: u64,
    /// Time a client connection may take to send a request head, counted from
    /// when it opens or its previous response ends: also the keep-alive idle timeout.
    pub header_read_timeout_secs: u64,
    /// Client connections open at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// Request headers accepted; more is a 431 in the route's error shape.
    pub max_headers: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordingConfig {
    /// Largest request or response body kept in a record.
    pub max_body_bytes: usize,
    pub spool_path: PathBuf,
    /// Bytes of records (bodies included) waiting for the writer before new
    /// ones are dropped (and counted).
    pub queue_max_bytes: usize,
    /// Bytes the spool may hold on disk while the database is down.
    pub spool_max_bytes: u64,
    pub batch_size: usize,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PricesConfig {
    /// A price table in the shipped JSON format.
    pub file: Option<PathBuf>,
    /// `merge` (the file's entries win over the shipped table) or `replace`.
    pub mode: Option<String>,
    /// Single-model overrides.
    pub models: Vec<ModelPriceOverride>,
}

/// Shared state for several instances: with a URL, the response cache and
/// rate limits live in Redis; without one, in the process.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]`.
    pub url: Option<String>,
    /// Longest wait for one Redis call before it counts as failed.
    pub timeout_ms: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: None,
            timeout_ms: 250,
        }
    }
}

/// The in-process response cache (used without Redis).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Bytes of cached answers kept in memory.
    pub max_bytes: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_bytes: 128 << 20,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// `allow` (default) or `deny`: what a request under a policy gets when
    /// the limit store cannot be reached.
    pub on_store_error: String,
    /// Bytes of rate-limit buckets kept in memory (used without Redis).
    pub max_bytes: u64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            on_store_error: "allow".into(),
            max_bytes: 16 << 20,
        }
    }
}

/// How the REST API and the dashboard read the database.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Connections of the read pool (queries and aggregates); keys, health
    /// checks and the writer have their own.
    pub read_pool_size: u32,
    /// Longest one read may run (or wait for a read connection) before it
    /// is stopped and answered 503.
    pub statement_timeout_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            read_pool_size: 4,
            statement_timeout_ms: 5000,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderConfig {
    pub base_url: Option<String>,
    /// Price-table provider id for a provider defined here.
    pub price_provider: Option<String>,
    /// `openai` (default), `anthropic` or `gemini`: the shape of heliport's own errors on this route.
    pub error_style: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8787".into(),
            database_url: "sqlite://heliport.db".into(),
            log: "info".into(),
            log_format: "text".into(),
            auth: AuthConfig::default(),
            gateway: GatewayConfig::default(),
            recording: RecordingConfig::default(),
            prices: PricesConfig::default(),
            redis: RedisConfig::default(),
            cache: CacheConfig::default(),
            rate_limit: RateLimitConfig::default(),
            store: StoreConfig::default(),
            providers: BTreeMap::new(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            mode: "required".into(),
            key_refresh_secs: 5,
        }
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            allowed_targets: Vec::new(),
            max_body_bytes: 32 << 20,
            upstream_timeout_secs: 600,
            stream_idle_timeout_secs: 300,
            connect_timeout_secs: 10,
            shutdown_grace_secs: 30,
            body_read_timeout_secs: 30,
            header_read_timeout_secs: 30,
            max_connections: 4096,
            max_headers: 256,
        }
    }
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            max_body_bytes: 1 << 20,
            spool_path: PathBuf::from("heliport.spool"),
            queue_max_bytes: 64 << 20,
            spool_max_bytes: 1 << 30,
            batch_size: 512,
        }
    }
}

/// A configuration problem, named precisely.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_parse<T: std::str::FromStr>(name: &str, slot: &mut T) -> Result<(), ConfigError> {
    if let Some(v) = env(name) {
        *slot = v
            .trim()
            .parse()
            .map_err(|_| ConfigError(format!("{name}: '{v}' is not a valid value")))?;
    }
    Ok(())
}

impl Config {
    /// The file (if any), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut cfg = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError(format!("cannot read config file {}: {e}", path.display()))
                })?;
                toml::from_str(&text)
                    .map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))?
            }
            None => Config::default(),
        };
        cfg.apply_env()?;
        Ok(cfg)
    }

    fn apply_env(&mut self) -> Result<(), ConfigError> {
        env_parse("HELIPORT_LISTEN", &mut self.listen)?;
        env_parse("HELIPORT_DATABASE_URL", &mut self.database_url)?;
        env_parse("HELIPORT_LOG", &mut self.log)?;
        env_parse("HELIPORT_LOG_FORMAT", &mut self.log_format)?;
        if !matches!(
            self.log_format.to_ascii_lowercase().as_str(),
            "text" | "json"
        ) {
            return Err(ConfigError(format!(
                "log_format must be 'text' or 'json', got '{}'",
                self.log_format
            )));
        }
        env_parse("HELIPORT_AUTH_MODE", &mut self.auth.mode)?;
        env_parse("HELIPORT_KEY_REFRESH_SECS", &mut self.auth.key_refresh_secs)?;
        if let Some(v) = env("HELIPORT_ALLOWED_TARGETS") {
            self.gateway.allowed_targets = v
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
        }
        env_parse("HELIPORT_MAX_BODY_BYTES", &mut self.gateway.max_body_bytes)?;
        env_parse(
            "HELIPORT_UPSTREAM_TIMEOUT_SECS",
            &mut self.gateway.upstream_timeout_secs,
        )?;
        env_parse(
            "HELIPORT_CONNECT_TIMEOUT_SECS",
            &mut self.gateway.connect_timeout_secs,
        )?;
        env_parse(
            "HELIPORT_STREAM_IDLE_TIMEOUT_SECS",
            &mut self.gateway.stream_idle_timeout_secs,
        )?;
        env_parse(
            "HELIPORT_SHUTDOWN_GRACE_SECS",
            &mut self.gateway.shutdown_grace_secs,
        )?;
        env_parse(
            "HELIPORT_BODY_READ_TIMEOUT_SECS",
            &mut self.gateway.body_read_timeout_secs,
        )?;
        env_parse(
            "HELIPORT_HEADER_READ_TIMEOUT_SECS",
            &mut self.gateway.header_read_timeout_secs,
        )?;
        env_parse(
            "HELIPORT_MAX_CONNECTIONS",
            &mut self.gateway.max_connections,
        )?;
        env_parse("HELIPORT_MAX_HEADERS", &mut self.gateway.max_headers)?;
        env_parse(
            "HELIPORT_RECORD_MAX_BODY_BYTES",
            &mut self.recording.max_body_bytes,
        )?;
        env_parse(
            "HELIPORT_RECORD_QUEUE_MAX_BYTES",
            &mut self.recording.queue_max_bytes,
        )?;
        env_parse(
            "HELIPORT_SPOOL_MAX_BYTES",
            &mut self.recording.spool_max_bytes,
        )?;
        if let Some(v) = env("HELIPORT_SPOOL_PATH") {
            self.recording.spool_path = PathBuf::from(v);
        }
        if let Some(v) = env("HELIPORT_REDIS_URL") {
            self.redis.url = Some(v);
        }
        env_parse("HELIPORT_REDIS_TIMEOUT_MS", &mut self.redis.timeout_ms)?;
        env_parse("HELIPORT_CACHE_MAX_BYTES", &mut self.cache.max_bytes)?;
        env_parse(
            "HELIPORT_RATE_LIMIT_ON_STORE_ERROR",
            &mut self.rate_limit.on_store_error,
        )?;
        env_parse(
            "HELIPORT_RATE_LIMIT_MAX_BYTES",
            &mut self.rate_limit.max_bytes,
        )?;
        env_parse("HELIPORT_READ_POOL_SIZE", &mut self.store.read_pool_size)?;
        env_parse(
            "HELIPORT_STATEMENT_TIMEOUT_MS",
            &mut self.store.statement_timeout_ms,
        )?;
        if self.store.read_pool_size == 0 || self.store.statement_timeout_ms == 0 {
            return Err(ConfigError(
                "store.read_pool_size and store.statement_timeout_ms must be at least 1".into(),
            ));
        }
        if let Some(v) = env("HELIPORT_PRICES") {
            self.prices.file = Some(PathBuf::from(v));
        }
        if let Some(v) = env("HELIPORT_PRICES_MODE") {
            self.prices.mode = Some(v);
        }
        // HELIPORT_<PROVIDER>_BASE_URL for every built-in and configured provider.
        let names: Vec<String> = heliport_core::provider::builtin_names()
            .map(str::to_string)
            .chain(self.providers.keys().cloned())
            .collect();
        for name in names {
            let var = format!(
                "HELIPORT_{}_BASE_URL",
                name.to_ascii_uppercase().replace('-', "_")
            );
            if let Some(v) = env(&var) {
                self.providers.entry(name).or_default().base_url = Some(v);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::default();
        assert_eq!(c.listen, "127.0.0.1:8787");
        assert_eq!(c.database_url, "sqlite://heliport.db");
        assert_eq!(c.gateway.max_body_bytes, 32 << 20);
        assert_eq!(c.auth.mode, "required");
    }

    #[test]
    fn toml_file_parses() {
        let c: Config = toml::from_str(
            r#"
listen = "0.0.0.0:9000"
[auth]
mode = "optional"
[gateway]
allowed_targets = ["http://10.0.0.5:8000"]
[providers.openai]
base_url = "http://127.0.0.1:9999"
[providers.vllm]
base_url = "http://10.0.0.5:8000"
price_provider = "openai"
[[prices.models]]
provider = "openai"
model = "ft:gpt-4o:acme"
input_mtok = 3.0
output_mtok = 12.0
[store]
read_pool_size = 8
statement_timeout_ms = 2000
"#,
        )
        .unwrap();
        assert_eq!(c.listen, "0.0.0.0:9000");
        assert_eq!(c.auth.mode, "optional");
        assert_eq!(
            c.providers["vllm"].price_provider.as_deref(),
            Some("openai")
        );
        assert_eq!(c.prices.models.len(), 1);
        assert_eq!(c.store.read_pool_size, 8);
        assert_eq!(c.store.statement_timeout_ms, 2000);
        assert!(toml::from_str::<Config>("nonsense = 1").is_err());
    }
}
