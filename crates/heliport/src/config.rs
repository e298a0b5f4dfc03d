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
    pub otel: OtelConfig,
    pub moderation: ModerationConfig,
    pub security: SecurityConfig,
    pub export: ExportQueueConfig,
    /// TLS on the listener.
    pub tls: TlsConfig,
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
    /// Threads that serve client connections, each connection on one of
    /// them with the upstream connections it uses; 0: one per CPU core.
    pub request_threads: usize,
    /// Request headers accepted; more is a 431 in the route's error shape.
    pub max_headers: usize,
    /// Streams one HTTP/2 client connection may have open at once (TLS listener).
    pub http2_max_streams: u32,
    /// A PEM file of CA certificates trusted for upstreams, besides the roots.
    pub ca_bundle: Option<PathBuf>,
    /// `bundled` (default), `system` or `both`: the roots upstream certificates are verified against.
    pub tls_roots: String,
    /// The egress proxy for every upstream (`http://[user:pass@]host:port`),
    /// or `none`; unset: `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` from the environment.
    pub proxy: Option<String>,
    /// Hosts reached without `proxy` (curl's `NO_PROXY` syntax); only with `proxy`.
    pub no_proxy: Option<String>,
}

/// `[tls]`: serve HTTPS (HTTP/2 and HTTP/1.1) on the listener.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert: Option<PathBuf>,
    /// PEM private key of the leaf certificate.
    pub key: Option<PathBuf>,
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

/// OpenTelemetry export of every record as a span (OTLP/HTTP).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtelConfig {
    /// Collector URL; `/v1/traces` is added when it has no path.
    pub endpoint: Option<String>,
    pub service_name: String,
    /// Export request and response bodies (each cut at 16 KiB).
    pub include_bodies: bool,
    /// Headers for the collector, `name=value,name2=value2` (as OTEL_EXPORTER_OTLP_HEADERS).
    pub headers: Option<String>,
}

impl Default for OtelConfig {
    fn default() -> Self {
        OtelConfig {
            endpoint: None,
            service_name: "heliport".into(),
            include_bodies: false,
            headers: None,
        }
    }
}

/// `Helicone-Moderations-Enabled` (SPEC §3.5).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModerationConfig {
    /// OpenAI key for moderation calls on routes whose own key is not an
    /// OpenAI key (Anthropic's); on OpenAI routes the request's key is used.
    pub api_key: Option<secrecy::SecretString>,
    pub model: String,
    /// When the moderation call fails: `false` (default) answers 502, `true` lets the request through.
    pub fail_open: bool,
}

impl Default for ModerationConfig {
    fn default() -> Self {
        ModerationConfig {
            api_key: None,
            model: "omni-moderation-latest".into(),
            fail_open: false,
        }
    }
}

/// `Helicone-LLM-Security-Enabled` (SPEC §3.6).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// An external classifier asked after heliport's own detector:
    /// POST `{"text": ...}`, answering `{"threat": bool}`.
    pub classifier_url: Option<String>,
    /// When the classifier fails: `false` (default) answers 502, `true` lets the request through.
    pub fail_open: bool,
}

/// The exporters' shared queue.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExportQueueConfig {
    /// Bytes of recorded requests waiting for PostHog and OpenTelemetry.
    pub queue_max_bytes: usize,
}

impl Default for ExportQueueConfig {
    fn default() -> Self {
        ExportQueueConfig {
            queue_max_bytes: 16 << 20,
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
    /// Development only: do not verify this provider's TLS certificate (logged loudly at start).
    pub tls_insecure: bool,
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
            otel: OtelConfig::default(),
            moderation: ModerationConfig::default(),
            security: SecurityConfig::default(),
            export: ExportQueueConfig::default(),
            tls: TlsConfig::default(),
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
            request_threads: 0,
            max_headers: 256,
            http2_max_streams: 100,
            ca_bundle: None,
            tls_roots: "bundled".into(),
            proxy: None,
            no_proxy: None,
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
        env_parse(
            "HELIPORT_REQUEST_THREADS",
            &mut self.gateway.request_threads,
        )?;
        env_parse("HELIPORT_MAX_HEADERS", &mut self.gateway.max_headers)?;
        env_parse(
            "HELIPORT_HTTP2_MAX_STREAMS",
            &mut self.gateway.http2_max_streams,
        )?;
        if let Some(v) = env("HELIPORT_CA_BUNDLE") {
            self.gateway.ca_bundle = Some(PathBuf::from(v));
        }
        env_parse("HELIPORT_TLS_ROOTS", &mut self.gateway.tls_roots)?;
        if let Some(v) = env("HELIPORT_PROXY") {
            self.gateway.proxy = Some(v);
        }
        if let Some(v) = env("HELIPORT_NO_PROXY") {
            self.gateway.no_proxy = Some(v);
        }
        if let Some(v) = env("HELIPORT_TLS_CERT") {
            self.tls.cert = Some(PathBuf::from(v));
        }
        if let Some(v) = env("HELIPORT_TLS_KEY") {
            self.tls.key = Some(PathBuf::from(v));
        }
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
        if let Some(v) = env("HELIPORT_OTEL_ENDPOINT") {
            self.otel.endpoint = Some(v);
        }
        env_parse("HELIPORT_OTEL_SERVICE_NAME", &mut self.otel.service_name)?;
        env_parse(
            "HELIPORT_OTEL_INCLUDE_BODIES",
            &mut self.otel.include_bodies,
        )?;
        if let Some(v) = env("HELIPORT_OTEL_HEADERS") {
            self.otel.headers = Some(v);
        }
        if let Some(v) = env("HELIPORT_MODERATION_API_KEY") {
            self.moderation.api_key = Some(secrecy::SecretString::from(v));
        }
        env_parse(
            "HELIPORT_MODERATION_FAIL_OPEN",
            &mut self.moderation.fail_open,
        )?;
        if let Some(v) = env("HELIPORT_SECURITY_CLASSIFIER_URL") {
            self.security.classifier_url = Some(v);
        }
        env_parse("HELIPORT_SECURITY_FAIL_OPEN", &mut self.security.fail_open)?;
        env_parse(
            "HELIPORT_EXPORT_QUEUE_MAX_BYTES",
            &mut self.export.queue_max_bytes,
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
            let upper = name.to_ascii_uppercase().replace('-', "_");
            if let Some(v) = env(&format!("HELIPORT_{upper}_BASE_URL")) {
                self.providers.entry(name.clone()).or_default().base_url = Some(v);
            }
            let var = format!("HELIPORT_{upper}_TLS_INSECURE");
            if let Some(v) = env(&var) {
                self.providers.entry(name).or_default().tls_insecure = match v.trim() {
                    t if t.eq_ignore_ascii_case("true") || t == "1" => true,
                    t if t.eq_ignore_ascii_case("false") || t == "0" => false,
                    _ => {
                        return Err(ConfigError(format!(
                            "{var}: '{v}' is not a valid value (true or false)"
                        )))
                    }
                };
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
tls_insecure = true
[tls]
cert = "/etc/heliport/cert.pem"
key = "/etc/heliport/key.pem"
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
        assert!(c.providers["vllm"].tls_insecure);
        assert!(!c.providers["openai"].tls_insecure);
        assert_eq!(
            c.tls.cert.as_deref(),
            Some(Path::new("/etc/heliport/cert.pem"))
        );
        assert_eq!(c.gateway.tls_roots, "bundled");
        assert_eq!(c.store.read_pool_size, 8);
        assert_eq!(c.store.statement_timeout_ms, 2000);
        assert!(toml::from_str::<Config>("nonsense = 1").is_err());
    }
}
