//! `heliport serve`: wire the stores, the recorder, the gateway and the API
//! together, and shut down gracefully.

use std::sync::Arc;
use std::time::Duration;

use heliport_core::error::ErrorStyle;
use heliport_core::pricing::PriceTable;
use heliport_core::provider::{ProviderDef, Providers};
use heliport_core::target::AllowedTargets;
use heliport_gateway::workers::Workers;
use heliport_gateway::{AuthMode, GatewayConfig, GatewayState};
use heliport_store::auth::KeyCache;
use heliport_store::writer::{self, WriterConfig};
use heliport_store::{AnalyticsStore, MetaStore, RecordStore, SqliteOptions, SqliteStore};

use crate::config::Config;
use crate::BoxError;

/// The shipped table, then the configured file, then single-model overrides.
pub fn load_prices(cfg: &Config) -> Result<PriceTable, BoxError> {
    let mut table = PriceTable::builtin()?;
    if let Some(path) = &cfg.prices.file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read price file {}: {e}", path.display()))?;
        let file = PriceTable::from_json(&text)
            .map_err(|e| format!("price file {}: {e}", path.display()))?;
        match cfg.prices.mode.as_deref().unwrap_or("merge") {
            "merge" => table.merge(file),
            "replace" => table = file,
            other => {
                return Err(
                    format!("prices.mode must be 'merge' or 'replace', got '{other}'").into(),
                )
            }
        }
    }
    for o in &cfg.prices.models {
        table.add_override(o)?;
    }
    Ok(table)
}

fn providers(cfg: &Config) -> Result<Providers, BoxError> {
    let mut p = Providers::default();
    for (name, pc) in &cfg.providers {
        let existing = p.get(name).cloned();
        let base_url = pc
            .base_url
            .clone()
            .or_else(|| existing.as_ref().and_then(|e| e.base_url.clone()));
        if let Some(url) = &base_url {
            heliport_core::target::parse_http_url(url)
                .map_err(|e| format!("providers.{name}.base_url: {e}"))?;
        }
        let error_style = match pc.error_style.as_deref() {
            None => existing
                .as_ref()
                .map(|e| e.error_style)
                .unwrap_or(ErrorStyle::OpenAi),
            Some("openai") => ErrorStyle::OpenAi,
            Some("anthropic") => ErrorStyle::Anthropic,
            Some("gemini") => ErrorStyle::Gemini,
            Some(other) => {
                return Err(format!(
                "providers.{name}.error_style must be openai, anthropic or gemini, got '{other}'"
            )
                .into())
            }
        };
        p.set(ProviderDef {
            name: name.clone(),
            base_url,
            price_provider: pc
                .price_provider
                .clone()
                .or_else(|| existing.and_then(|e| e.price_provider)),
            error_style,
        });
    }
    Ok(p)
}

/// The record writer, on a thread and runtime of its own with its own database
/// connections: finalizing records (parsing, estimating, pricing) never takes
/// a request worker, API queries never starve it of connections, and it
/// outlives the request threads, so requests still open at shutdown are
/// recorded (as cancelled) when their runtimes drop them.
struct WriterThread {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WriterThread {
    fn spawn(
        database_url: String,
        prices: Arc<PriceTable>,
        wcfg: WriterConfig,
        after: Option<Arc<dyn writer::AfterRecording>>,
    ) -> Result<(WriterThread, writer::Recorder), BoxError> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<writer::Recorder, String>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("heliport-writer".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("cannot start the writer runtime: {e}")));
                        return;
                    }
                };
                rt.block_on(async move {
                    let sink =
                        match heliport_store::sqlite::sink::SqliteRecordSink::open(&database_url) {
                            Ok(s) => s,
                            Err(e) => {
                                let _ = ready_tx.send(Err(e.to_string()));
                                return;
                            }
                        };
                    let (recorder, handle) = match writer::start_with(sink, prices, wcfg, after) {
                        Ok(v) => v,
                        Err(e) => {
                            let _ = ready_tx.send(Err(format!("cannot open the spool: {e}")));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(recorder));
                    let _ = stop_rx.await;
                    handle.shutdown().await;
                });
            })?;
        let recorder = ready_rx
            .recv()
            .map_err(|_| "the record writer did not start".to_string())??;
        Ok((
            WriterThread {
                stop: Some(stop_tx),
                thread: Some(thread),
            },
            recorder,
        ))
    }

    /// Write everything queued, then stop.
    fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("the record writer thread panicked");
            }
        }
    }
}

/// `heliport serve`: owns the runtimes (the main one and the request
/// threads) so that the writer can outlive them.
pub fn serve_blocking(runtime: tokio::runtime::Runtime, cfg: Config) -> Result<(), BoxError> {
    crate::init_logging(&cfg.log, &cfg.log_format);
    // Installed before the writer starts, so every series it names exists
    // from the first scrape (a dashboard shows 0, not nothing).
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| format!("cannot start metrics: {e}"))?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Started before anything else makes threads, so each request thread
    // has a glibc arena of its own for what C code allocates on it (see
    // memory.rs; the Rust heap is jemalloc's).
    let threads = request_threads(&cfg);
    crate::memory::arenas_for(threads);
    let workers = Arc::new(
        Workers::start(threads).map_err(|e| format!("cannot start the request threads: {e}"))?,
    );
    let prices = Arc::new(load_prices(&cfg)?);
    // Create and migrate the database before the writer opens its own connections.
    let store = runtime.block_on(SqliteStore::open_with(
        &cfg.database_url,
        store_options(&cfg),
    ))?;
    let upstream = upstream(&cfg, workers.len())?;
    // The exporters run on the main runtime; the writer hands them what it recorded.
    let exporters = {
        let export_cfg = export_config(&cfg)?;
        let _guard = runtime.enter();
        heliport_gateway::export::start(export_cfg, upstream.clone())
    };
    let (writer, recorder) = WriterThread::spawn(
        cfg.database_url.clone(),
        prices.clone(),
        WriterConfig {
            queue_max_bytes: cfg.recording.queue_max_bytes,
            spool_max_bytes: cfg.recording.spool_max_bytes,
            batch_size: cfg.recording.batch_size,
            spool_path: cfg.recording.spool_path.clone(),
            spool_retry: Duration::from_secs(5),
            linger: Duration::from_millis(20),
        },
        Some(exporters),
    )?;
    let result = runtime.block_on(serve(
        cfg,
        store,
        prices,
        recorder,
        prometheus,
        upstream,
        workers.clone(),
    ));
    // Requests still open after the drain timeout are dropped here; their
    // records (cancelled) reach the writer, which is still running.
    workers.stop();
    runtime.shutdown_timeout(Duration::from_secs(2));
    writer.finish();
    tracing::info!("stopped");
    result
}

/// `gateway.request_threads`, 0 meaning one per CPU core.
fn request_threads(cfg: &Config) -> usize {
    match cfg.gateway.request_threads {
        0 => crate::memory::cores(),
        n => n,
    }
}

/// The read pool and statement timeout from the configuration.
pub fn store_options(cfg: &Config) -> SqliteOptions {
    SqliteOptions {
        read_connections: cfg.store.read_pool_size,
        statement_timeout: Duration::from_millis(cfg.store.statement_timeout_ms),
    }
}

async fn serve(
    cfg: Config,
    store: SqliteStore,
    prices: Arc<PriceTable>,
    recorder: writer::Recorder,
    prometheus: metrics_exporter_prometheus::PrometheusHandle,
    upstream: heliport_gateway::upstream::Upstream,
    workers: Arc<Workers>,
) -> Result<(), BoxError> {
    let auth_mode: AuthMode = cfg.auth.mode.parse()?;
    let providers = providers(&cfg)?;
    let store = Arc::new(store);
    let meta: Arc<dyn MetaStore> = store.clone();
    let records: Arc<dyn RecordStore> = store.clone();
    let analytics: Arc<dyn AnalyticsStore> = store;
    let default_org = meta.ensure_default_org().await?;
    let keys = Arc::new(KeyCache::load(meta.clone()).await?);
    let _refresher = keys.spawn_refresher(Duration::from_secs(cfg.auth.key_refresh_secs.max(1)));
    if let Some(url) = cfg
        .security
        .classifier_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    {
        heliport_core::target::parse_http_url(url)
            .map_err(|e| format!("security.classifier_url: {e}"))?;
    }
    // Compiled in and tested, so this is a build defect; screening must never
    // quietly pass everything.
    if !heliport_core::injection::model_ready() {
        return Err("the prompt-injection model built into heliport did not load".into());
    }
    let on_limit_store_error: heliport_gateway::OnStoreError =
        cfg.rate_limit.on_store_error.parse()?;
    let (cache, limiter) = match cfg.redis.url.as_deref().filter(|u| !u.trim().is_empty()) {
        Some(url) => {
            tracing::info!(redis = %heliport_core::redact::redact_query(url), "cache and rate limits in Redis");
            heliport_state::redis(url, Duration::from_millis(cfg.redis.timeout_ms.max(1)))
                .map_err(|e| format!("redis.url: {e}"))?
        }
        None => heliport_state::in_process(cfg.cache.max_bytes, cfg.rate_limit.max_bytes),
    };
    let state = Arc::new(GatewayState {
        cfg: GatewayConfig {
            auth_mode,
            default_org_id: default_org.id.clone(),
            max_body_bytes: cfg.gateway.max_body_bytes,
            body_read_timeout: Duration::from_secs(cfg.gateway.body_read_timeout_secs.max(1)),
            body_cap_bytes: cfg.recording.max_body_bytes,
            upstream_timeout: Duration::from_secs(cfg.gateway.upstream_timeout_secs),
            stream_idle_timeout: Duration::from_secs(cfg.gateway.stream_idle_timeout_secs.max(1)),
            connect_timeout: Duration::from_secs(cfg.gateway.connect_timeout_secs),
            allowed_targets: AllowedTargets::new(cfg.gateway.allowed_targets.clone()),
            on_limit_store_error,
            moderation: heliport_gateway::ModerationSettings {
                api_key: cfg.moderation.api_key.clone(),
                model: cfg.moderation.model.clone(),
                fail_open: cfg.moderation.fail_open,
            },
            security: heliport_gateway::SecuritySettings {
                classifier_url: cfg
                    .security
                    .classifier_url
                    .clone()
                    .filter(|u| !u.trim().is_empty()),
                fail_open: cfg.security.fail_open,
            },
        },
        providers,
        prices,
        keys: keys.clone(),
        recorder,
        counters: heliport_gateway::RequestCounters::register(),
        upstream,
        store: meta.clone(),
        cache,
        limiter,
    });
    let api_state = heliport_api::ApiState {
        records,
        analytics,
        meta,
        keys,
    };
    let api = heliport_api::router(api_state.clone());
    let tls = listener_tls(&cfg)?;
    let dashboard = heliport_gateway::Dashboard {
        router: heliport_api::dashboard::router(
            api_state,
            heliport_api::dashboard::DashboardConfig {
                secure_cookies: tls.is_some(),
                ..Default::default()
            },
        ),
        owns: heliport_api::dashboard::owns_path,
    };
    let render: heliport_gateway::server::MetricsRender = Arc::new(move || prometheus.render());
    let queue = state.recorder.clone();
    let app = heliport_gateway::router_with_dashboard(state, api, Some(dashboard), render);

    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%addr, %scheme, auth = ?auth_mode, database = %heliport_core::redact::redact_query(&cfg.database_url), "heliport started");
    println!("heliport listening on {scheme}://{addr}");
    let _reloader = tls.clone().map(spawn_reloader);

    let listener_cfg = heliport_gateway::listener::ListenerConfig {
        max_connections: cfg.gateway.max_connections,
        header_read_timeout: Duration::from_secs(cfg.gateway.header_read_timeout_secs.max(1)),
        max_headers: cfg.gateway.max_headers.max(1),
        shutdown_grace: Duration::from_secs(cfg.gateway.shutdown_grace_secs),
        http2_max_streams: cfg.gateway.http2_max_streams,
        tls,
        workers: Some(workers),
    };
    let _trimmer = crate::memory::spawn_trimmer(
        heliport_gateway::listener::open_connections,
        heliport_gateway::listener::peak_connections_since_last,
        move || queue.backlog_bytes(),
    );
    heliport_gateway::listener::serve(listener, app, listener_cfg, shutdown_signal()).await;
    Ok(())
}

/// The exporters' settings: OpenTelemetry when an endpoint is set.
fn export_config(cfg: &Config) -> Result<heliport_gateway::export::ExportConfig, BoxError> {
    let otel = match cfg
        .otel
        .endpoint
        .as_deref()
        .filter(|e| !e.trim().is_empty())
    {
        None => None,
        Some(endpoint) => {
            let uri = heliport_core::target::parse_http_url(endpoint)
                .map_err(|e| format!("otel.endpoint: {e}"))?;
            // A bare collector address gets the OTLP/HTTP traces path.
            let endpoint = if uri.path().trim_end_matches('/').is_empty() {
                format!("{}/v1/traces", endpoint.trim().trim_end_matches('/'))
            } else {
                endpoint.trim().to_string()
            };
            let mut headers = Vec::new();
            for pair in cfg.otel.headers.as_deref().unwrap_or_default().split(',') {
                let Some((k, v)) = pair.split_once('=') else {
                    continue;
                };
                let name = http::HeaderName::from_bytes(k.trim().as_bytes())
                    .map_err(|_| format!("otel.headers: '{}' is not a header name", k.trim()))?;
                let mut value = http::HeaderValue::from_str(v.trim()).map_err(|_| {
                    format!("otel.headers: the value of '{}' is not valid", k.trim())
                })?;
                value.set_sensitive(true);
                headers.push((name, value));
            }
            tracing::info!(endpoint = %heliport_core::redact::redact_query(&endpoint), "exporting spans over OTLP/HTTP");
            Some(heliport_gateway::export::OtelConfig {
                endpoint,
                service_name: cfg.otel.service_name.clone(),
                include_bodies: cfg.otel.include_bodies,
                headers,
            })
        }
    };
    Ok(heliport_gateway::export::ExportConfig {
        otel,
        queue_max_bytes: cfg.export.queue_max_bytes,
        allowed_targets: AllowedTargets::new(cfg.gateway.allowed_targets.clone()),
    })
}

/// The upstream client: trust (`gateway.tls_roots`, `gateway.ca_bundle`),
/// egress proxies (`gateway.proxy`, else the environment) and the providers
/// whose certificates are not verified, each said in the log at start.
fn upstream(
    cfg: &Config,
    request_threads: usize,
) -> Result<heliport_gateway::upstream::Upstream, BoxError> {
    use heliport_gateway::upstream::{ProxyConfig, Trust, UpstreamConfig};
    let proxy = match cfg.gateway.proxy.as_deref().map(str::trim) {
        None => ProxyConfig::Environment,
        Some(p) if p.is_empty() || p.eq_ignore_ascii_case("none") => ProxyConfig::Off,
        Some(url) => ProxyConfig::Url {
            url: url.to_string(),
            no_proxy: cfg.gateway.no_proxy.clone().unwrap_or_default(),
        },
    };
    let insecure: Vec<String> = cfg
        .providers
        .iter()
        .filter(|(_, p)| p.tls_insecure)
        .map(|(name, _)| name.clone())
        .collect();
    let upstream = heliport_gateway::upstream::Upstream::with_config(&UpstreamConfig {
        connect_timeout: Duration::from_secs(cfg.gateway.connect_timeout_secs),
        trust: Trust {
            roots: cfg.gateway.tls_roots.parse()?,
            ca_bundle: cfg.gateway.ca_bundle.clone(),
        },
        proxy,
        insecure_providers: insecure.clone(),
        request_threads,
    })?;
    for line in &upstream.summary {
        tracing::info!("{line}");
    }
    for name in &insecure {
        let base = cfg
            .providers
            .get(name)
            .and_then(|p| p.base_url.as_deref())
            .map(|u| heliport_core::redact::redact_query(u).into_owned())
            .unwrap_or_else(|| "its default base URL".into());
        // On stderr whatever the log filter, as well as in the log.
        let warning = format!(
            "providers.{name}.tls_insecure = true: the TLS certificate of {base} is NOT verified; \
             anyone on the network path can read and change this provider's traffic, keys included. \
             For development only."
        );
        eprintln!("heliport: WARNING: {warning}");
        tracing::warn!("{warning}");
    }
    Ok(upstream)
}

/// `tls.cert` and `tls.key`: both or neither.
fn listener_tls(
    cfg: &Config,
) -> Result<Option<Arc<heliport_gateway::listener::ListenerTls>>, BoxError> {
    match (&cfg.tls.cert, &cfg.tls.key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => {
            let tls = heliport_gateway::listener::ListenerTls::load(cert, key)?;
            tracing::info!(cert = %cert.display(), "serving HTTPS (HTTP/2 and HTTP/1.1); SIGHUP reloads the certificate");
            Ok(Some(Arc::new(tls)))
        }
        (Some(_), None) => Err("tls.cert is set but tls.key is not (HELIPORT_TLS_KEY)".into()),
        (None, Some(_)) => Err("tls.key is set but tls.cert is not (HELIPORT_TLS_CERT)".into()),
    }
}

/// SIGHUP reads the certificate files again; connections already open keep
/// the certificate they were made with.
fn spawn_reloader(
    tls: Arc<heliport_gateway::listener::ListenerTls>,
) -> Option<tokio::task::JoinHandle<()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGHUP: the TLS certificate will not be reloaded");
                return None;
            }
        };
        Some(tokio::spawn(async move {
            while hup.recv().await.is_some() {
                match tls.reload() {
                    Ok(()) => {
                        tracing::info!(cert = %tls.cert_path().display(), "SIGHUP: TLS certificate reloaded")
                    }
                    Err(e) => tracing::error!(
                        error = %e,
                        "SIGHUP: the TLS certificate could not be reloaded; the one in force stays"
                    ),
                }
            }
        }))
    }
    #[cfg(not(unix))]
    {
        let _ = tls;
        None
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        match term {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
