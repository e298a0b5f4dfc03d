//! Providers heliport knows, and how an incoming request picks its upstream.

use crate::error::{ErrorCode, ErrorStyle, GatewayError};
use crate::options::RequestOptions;

/// One provider route (`/<name>/*`, or a Host whose first label is the name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderDef {
    /// Route prefix and the name recorded as `provider`.
    pub name: String,
    /// Base URL joined with the rest of the path; `None` until configured (Azure).
    pub base_url: Option<String>,
    /// Provider id in the price table, when it has one.
    pub price_provider: Option<String>,
    /// Error body shape on this route.
    pub error_style: ErrorStyle,
}

/// Built-in providers: (name, default base URL, price-table id).
const BUILTIN: &[(&str, Option<&str>, Option<&str>)] = &[
    ("openai", Some("https://api.openai.com"), Some("openai")),
    (
        "anthropic",
        Some("https://api.anthropic.com"),
        Some("anthropic"),
    ),
    ("azure", None, Some("azure")),
    (
        "gemini",
        Some("https://generativelanguage.googleapis.com"),
        Some("google"),
    ),
    ("groq", Some("https://api.groq.com/openai"), Some("groq")),
    ("mistral", Some("https://api.mistral.ai"), Some("mistral")),
    (
        "deepseek",
        Some("https://api.deepseek.com"),
        Some("deepseek"),
    ),
    ("xai", Some("https://api.x.ai"), Some("x-ai")),
    (
        "together",
        Some("https://api.together.xyz"),
        Some("together"),
    ),
    (
        "openrouter",
        Some("https://openrouter.ai/api"),
        Some("openrouter"),
    ),
    (
        "fireworks",
        Some("https://api.fireworks.ai/inference"),
        Some("fireworks"),
    ),
    // Local servers need an operator's say-so: a default loopback route would let any
    // key holder reach a port on heliport's host.
    ("ollama", None, None),
];

/// Names of the built-in providers, for config and docs.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(n, _, _)| *n)
}

/// The provider table: built-ins plus operator-defined providers.
#[derive(Debug, Clone)]
pub struct Providers {
    list: Vec<ProviderDef>,
}

impl Default for Providers {
    fn default() -> Self {
        Providers {
            list: BUILTIN
                .iter()
                .map(|(name, base, price)| ProviderDef {
                    name: (*name).to_string(),
                    base_url: base.map(str::to_string),
                    price_provider: price.map(str::to_string),
                    error_style: match *name {
                        "anthropic" => ErrorStyle::Anthropic,
                        "gemini" => ErrorStyle::Gemini,
                        _ => ErrorStyle::OpenAi,
                    },
                })
                .collect(),
        }
    }
}

impl Providers {
    pub fn get(&self, name: &str) -> Option<&ProviderDef> {
        self.list.iter().find(|p| p.name == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &ProviderDef> {
        self.list.iter()
    }

    /// Override a provider's base URL, or define a new provider.
    pub fn set(&mut self, def: ProviderDef) {
        match self.list.iter_mut().find(|p| p.name == def.name) {
            Some(p) => *p = def,
            None => self.list.push(def),
        }
    }

    /// Set the base URL of an existing or new provider, keeping its other fields.
    pub fn set_base_url(&mut self, name: &str, base_url: String) {
        match self.list.iter_mut().find(|p| p.name == name) {
            Some(p) => p.base_url = Some(base_url),
            None => self.list.push(ProviderDef {
                name: name.to_string(),
                base_url: Some(base_url),
                price_provider: None,
                error_style: ErrorStyle::OpenAi,
            }),
        }
    }

    /// Our provider name for a price-table id (`google` → `gemini`).
    pub fn name_for_price_id(&self, price_id: &str) -> String {
        self.list
            .iter()
            .find(|p| p.price_provider.as_deref() == Some(price_id))
            .map(|p| p.name.clone())
            .unwrap_or_else(|| price_id.to_string())
    }
}

/// Where a request goes and how it is recorded and priced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Provider name recorded for the request.
    pub provider: String,
    /// Price-table provider id used for cost.
    pub price_provider: Option<String>,
    /// The full upstream URL (base joined with path and query).
    pub upstream_url: String,
    /// The path and query sent upstream.
    pub upstream_path: String,
    /// The URL came from the client (target header), so the address check applies.
    pub client_supplied: bool,
    pub error_style: ErrorStyle,
}

/// Join a base URL and a path, keeping the base's own path
/// (`https://openrouter.ai/api` + `/v1/chat` = `https://openrouter.ai/api/v1/chat`).
pub fn join_url(base: &str, path_and_query: &str) -> String {
    let base = base.trim_end_matches('/');
    if path_and_query.is_empty() {
        return base.to_string();
    }
    let mut url = String::with_capacity(base.len() + 1 + path_and_query.len());
    url.push_str(base);
    if !(path_and_query.starts_with('/') || path_and_query.starts_with('?')) {
        url.push('/');
    }
    url.push_str(path_and_query);
    url
}

/// Azure OpenAI hosts, recorded as provider `azure`.
pub fn is_azure_host(host: &str) -> bool {
    let h = host.to_ascii_lowercase();
    [
        ".openai.azure.com",
        ".azure-api.net",
        ".cognitiveservices.azure.com",
        ".services.ai.azure.com",
    ]
    .iter()
    .any(|suffix| h.ends_with(suffix))
}

/// How the incoming request named its provider, before target headers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BaseRoute {
    /// `/v1/*` or Host `oai.*`: OpenAI, or `Helicone-OpenAI-Api-Base`.
    OpenAiCompatible { path: String },
    /// Host `gateway.*`: needs `Helicone-Target-URL`.
    Gateway { path: String },
    /// `/<provider>/*` or Host `<provider>.*`.
    Provider { name: String, path: String },
}

/// The first label of a Host that names a route (`oai.example.com` → `oai`).
fn host_label(host: &str) -> Option<&str> {
    let host = host.split(':').next().unwrap_or(host);
    if host.parse::<std::net::Ipv4Addr>().is_ok() || host.starts_with('[') {
        return None;
    }
    let (label, rest) = host.split_once('.')?;
    (!rest.is_empty()).then_some(label)
}

fn base_route(
    host: Option<&str>,
    path_and_query: &str,
    providers: &Providers,
) -> Option<BaseRoute> {
    if let Some(label) = host.and_then(host_label) {
        let label = label.to_ascii_lowercase();
        let path = path_and_query.to_string();
        match label.as_str() {
            "oai" => return Some(BaseRoute::OpenAiCompatible { path }),
            "gateway" => return Some(BaseRoute::Gateway { path }),
            _ if providers.get(&label).is_some() => {
                return Some(BaseRoute::Provider { name: label, path })
            }
            _ => {}
        }
    }
    let path_only = path_and_query.split('?').next().unwrap_or("");
    if path_only == "/v1" || path_only.starts_with("/v1/") {
        return Some(BaseRoute::OpenAiCompatible {
            path: path_and_query.to_string(),
        });
    }
    let rest = path_and_query.strip_prefix('/')?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let name = &rest[..end];
    providers.get(name)?;
    let tail = &rest[end..];
    let path = if tail.starts_with('?') || tail.is_empty() {
        format!("/{tail}")
    } else {
        tail.to_string()
    };
    Some(BaseRoute::Provider {
        name: name.to_string(),
        path,
    })
}

/// Whether the proxy routes this request (SPEC §1): a Host whose first
/// label routes, `Helicone-Target-URL`, `/v1/*` or a provider prefix.
/// Whatever it does not route may be one of heliport's own pages.
pub fn is_proxied(
    host: Option<&str>,
    path_and_query: &str,
    has_target_url: bool,
    providers: &Providers,
) -> bool {
    has_target_url || base_route(host, path_and_query, providers).is_some()
}

fn host_of(url: &str) -> String {
    url.parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(str::to_string))
        .unwrap_or_default()
}

/// Pick the upstream for a request (SPEC §1). `price_provider_for_url` maps an
/// upstream URL to the price table's provider id (from its API patterns).
pub fn resolve(
    host: Option<&str>,
    path_and_query: &str,
    opts: &RequestOptions,
    providers: &Providers,
    price_provider_for_url: impl Fn(&str) -> Option<String>,
) -> Result<Route, GatewayError> {
    let mut base = base_route(host, path_and_query, providers);
    // Azure SDKs call `/openai/deployments/...`; with an API base that path is the
    // provider's own (as on Helicone's oai host), so it is forwarded whole.
    if opts.openai_api_base.is_some()
        && matches!(&base, Some(BaseRoute::Provider { name, .. }) if name == "openai")
    {
        base = Some(BaseRoute::OpenAiCompatible {
            path: path_and_query.to_string(),
        });
    }
    let not_found = || {
        GatewayError::new(
            ErrorCode::NotFound,
            format!(
                "no route for {}: use /v1/* for OpenAI, a provider prefix such as /anthropic/*, or Helicone-Target-URL",
                path_and_query.split('?').next().unwrap_or("")
            ),
        )
    };
    // What the route alone would give, used for provider naming and error style.
    let (route_provider, path) = match &base {
        Some(BaseRoute::OpenAiCompatible { path }) => (providers.get("openai"), path.clone()),
        Some(BaseRoute::Provider { name, path }) => (providers.get(name), path.clone()),
        Some(BaseRoute::Gateway { path }) => (None, path.clone()),
        None => (None, path_and_query.to_string()),
    };
    let error_style = route_provider
        .map(|p| p.error_style)
        .unwrap_or(ErrorStyle::OpenAi);

    let client_route = |url: &str, route_default: Option<&ProviderDef>| -> Route {
        let upstream_url = join_url(url, &path);
        let host = host_of(url);
        let (provider, price_provider) = if is_azure_host(&host) {
            ("azure".to_string(), Some("azure".to_string()))
        } else if let Some(id) = price_provider_for_url(&upstream_url) {
            (providers.name_for_price_id(&id), Some(id))
        } else if let Some(p) = route_default {
            (p.name.clone(), p.price_provider.clone())
        } else {
            ("custom".to_string(), None)
        };
        Route {
            provider,
            price_provider,
            upstream_url,
            upstream_path: path.clone(),
            client_supplied: true,
            error_style,
        }
    };

    if let Some(target) = &opts.target_url {
        return Ok(client_route(target, route_provider));
    }
    match base {
        None => Err(not_found()),
        Some(BaseRoute::Gateway { .. }) => Err(GatewayError::new(
            ErrorCode::InvalidHeader,
            "Helicone-Target-URL: required on the gateway host; set it to the provider's base URL, e.g. https://api.openai.com",
        )),
        Some(BaseRoute::OpenAiCompatible { .. }) if opts.openai_api_base.is_some() => {
            let api_base = opts.openai_api_base.as_deref().unwrap_or_default();
            Ok(client_route(api_base, route_provider))
        }
        Some(_) => {
            let p = route_provider.ok_or_else(not_found)?;
            let base_url = p.base_url.as_deref().ok_or_else(|| {
                GatewayError::new(
                    ErrorCode::InvalidRequest,
                    format!(
                        "provider '{}' has no base URL configured: set HELIPORT_{}_BASE_URL (or [providers.{}] base_url), or send Helicone-Target-URL with the server's base URL",
                        p.name,
                        p.name.to_ascii_uppercase(),
                        p.name
                    ),
                )
            })?;
            Ok(Route {
                provider: p.name.clone(),
                price_provider: p.price_provider.clone(),
                upstream_url: join_url(base_url, &path),
                upstream_path: path,
                client_supplied: false,
                error_style,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_price(_: &str) -> Option<String> {
        None
    }

    fn price(url: &str) -> Option<String> {
        if url.starts_with("https://api.groq.com") {
            Some("groq".into())
        } else if url.starts_with("https://generativelanguage.googleapis.com") {
            Some("google".into())
        } else {
            None
        }
    }

    fn opts() -> RequestOptions {
        RequestOptions::default()
    }

    #[test]
    fn join_keeps_base_path() {
        assert_eq!(
            join_url("https://openrouter.ai/api", "/v1/chat/completions"),
            "https://openrouter.ai/api/v1/chat/completions"
        );
        assert_eq!(
            join_url("https://openrouter.ai/api/", "/v1/x?a=1"),
            "https://openrouter.ai/api/v1/x?a=1"
        );
        assert_eq!(join_url("http://h:1", "?q"), "http://h:1?q");
    }

    #[test]
    fn v1_goes_to_openai() {
        let r = resolve(
            None,
            "/v1/chat/completions",
            &opts(),
            &Providers::default(),
            no_price,
        )
        .unwrap();
        assert_eq!(r.upstream_url, "https://api.openai.com/v1/chat/completions");
        assert_eq!(r.provider, "openai");
        assert_eq!(r.price_provider.as_deref(), Some("openai"));
        assert!(!r.client_supplied);
    }

    #[test]
    fn provider_prefixes_strip_the_prefix() {
        let p = Providers::default();
        let r = resolve(None, "/anthropic/v1/messages", &opts(), &p, no_price).unwrap();
        assert_eq!(r.upstream_url, "https://api.anthropic.com/v1/messages");
        assert_eq!(r.error_style, ErrorStyle::Anthropic);
        let r = resolve(None, "/groq/v1/chat/completions?x=1", &opts(), &p, no_price).unwrap();
        assert_eq!(
            r.upstream_url,
            "https://api.groq.com/openai/v1/chat/completions?x=1"
        );
        let r = resolve(
            None,
            "/gemini/v1beta/models/gemini-2.0-flash:generateContent",
            &opts(),
            &p,
            no_price,
        )
        .unwrap();
        assert_eq!(r.upstream_url, "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent");
        assert_eq!(r.price_provider.as_deref(), Some("google"));
        for name in builtin_names().filter(|n| !matches!(*n, "azure" | "ollama")) {
            assert!(
                resolve(None, &format!("/{name}/v1/x"), &opts(), &p, no_price).is_ok(),
                "{name}"
            );
        }
    }

    #[test]
    fn overridden_base_keeps_the_route_price_provider() {
        let mut p = Providers::default();
        p.set_base_url("openai", "http://127.0.0.1:9999".into());
        let r = resolve(None, "/v1/chat/completions", &opts(), &p, price).unwrap();
        assert_eq!(r.upstream_url, "http://127.0.0.1:9999/v1/chat/completions");
        assert_eq!(r.price_provider.as_deref(), Some("openai"));
        assert!(!r.client_supplied);
    }

    #[test]
    fn unconfigured_azure_is_a_clear_error() {
        let e = resolve(
            None,
            "/azure/openai/deployments/x/chat/completions",
            &opts(),
            &Providers::default(),
            no_price,
        )
        .unwrap_err();
        assert!(e.message.contains("HELIPORT_AZURE_BASE_URL"));
        // Only headers the route honours are suggested.
        assert!(!e.message.contains("Api-Base"), "{}", e.message);
        let mut o = opts();
        o.target_url = Some("https://myres.openai.azure.com".into());
        let r = resolve(
            None,
            "/azure/openai/deployments/x/chat/completions",
            &o,
            &Providers::default(),
            no_price,
        )
        .unwrap();
        assert_eq!(
            r.upstream_url,
            "https://myres.openai.azure.com/openai/deployments/x/chat/completions"
        );
    }

    #[test]
    fn api_base_header_and_azure_detection() {
        let mut o = opts();
        o.openai_api_base = Some("https://myres.openai.azure.com".into());
        let r = resolve(
            None,
            "/openai/deployments/gpt4/chat/completions?api-version=2024-06-01",
            &o,
            &Providers::default(),
            no_price,
        )
        .unwrap();
        assert_eq!(r.upstream_url, "https://myres.openai.azure.com/openai/deployments/gpt4/chat/completions?api-version=2024-06-01");
        assert_eq!(r.provider, "azure");
        let r = resolve(
            Some("oai.heliport.example"),
            "/openai/deployments/gpt4/chat/completions?api-version=1",
            &o,
            &Providers::default(),
            no_price,
        )
        .unwrap();
        assert_eq!(
            r.upstream_url,
            "https://myres.openai.azure.com/openai/deployments/gpt4/chat/completions?api-version=1"
        );
        assert_eq!(r.provider, "azure");
        assert!(r.client_supplied);
        o.openai_api_base = Some("https://api.groq.com/openai".into());
        let r = resolve(
            None,
            "/v1/chat/completions",
            &o,
            &Providers::default(),
            price,
        )
        .unwrap();
        assert_eq!(r.provider, "groq");
        o.openai_api_base = Some("https://llm.internal.example".into());
        let r = resolve(
            None,
            "/v1/chat/completions",
            &o,
            &Providers::default(),
            price,
        )
        .unwrap();
        assert_eq!(r.provider, "openai");
    }

    #[test]
    fn target_url_wins_on_any_path() {
        let mut o = opts();
        o.target_url = Some("https://generativelanguage.googleapis.com".into());
        let r = resolve(
            Some("gateway.example.com"),
            "/v1beta/models/g:generateContent",
            &o,
            &Providers::default(),
            price,
        )
        .unwrap();
        assert_eq!(r.provider, "gemini");
        assert_eq!(r.price_provider.as_deref(), Some("google"));
        o.target_url = Some("https://llm.example.com/base".into());
        let r = resolve(None, "/some/path?q=1", &o, &Providers::default(), price).unwrap();
        assert_eq!(r.upstream_url, "https://llm.example.com/base/some/path?q=1");
        assert_eq!(r.provider, "custom");
    }

    #[test]
    fn what_the_proxy_routes() {
        let p = Providers::default();
        assert!(is_proxied(Some("oai.example.com"), "/", false, &p));
        assert!(is_proxied(
            Some("anthropic.example.com"),
            "/requests",
            false,
            &p
        ));
        assert!(is_proxied(Some("gateway.example.com"), "/", false, &p));
        assert!(is_proxied(Some("localhost:8787"), "/v1/models", false, &p));
        assert!(is_proxied(Some("localhost:8787"), "/groq/x", false, &p));
        assert!(is_proxied(Some("localhost:8787"), "/requests", true, &p));
        assert!(!is_proxied(Some("localhost:8787"), "/requests", false, &p));
        assert!(!is_proxied(Some("dash.example.com"), "/", false, &p));
        assert!(!is_proxied(Some("127.0.0.1:8787"), "/", false, &p));
    }

    #[test]
    fn hosts_route_like_helicone() {
        let p = Providers::default();
        let r = resolve(
            Some("anthropic.heliport.local:8787"),
            "/v1/messages",
            &opts(),
            &p,
            no_price,
        )
        .unwrap();
        assert_eq!(r.upstream_url, "https://api.anthropic.com/v1/messages");
        let r = resolve(
            Some("oai.heliport.local"),
            "/v1/embeddings",
            &opts(),
            &p,
            no_price,
        )
        .unwrap();
        assert_eq!(r.provider, "openai");
        let e = resolve(
            Some("gateway.heliport.local"),
            "/v1/x",
            &opts(),
            &p,
            no_price,
        )
        .unwrap_err();
        assert!(e.message.contains("Helicone-Target-URL"));
        // Plain hosts and IPs route by path.
        let r = resolve(
            Some("127.0.0.1:8787"),
            "/anthropic/v1/messages",
            &opts(),
            &p,
            no_price,
        )
        .unwrap();
        assert_eq!(r.provider, "anthropic");
        let r = resolve(
            Some("localhost:8787"),
            "/v1/chat/completions",
            &opts(),
            &p,
            no_price,
        )
        .unwrap();
        assert_eq!(r.provider, "openai");
    }

    #[test]
    fn unknown_routes_are_not_found() {
        let e = resolve(None, "/nope/x", &opts(), &Providers::default(), no_price).unwrap_err();
        assert_eq!(e.code, ErrorCode::NotFound);
        assert!(resolve(None, "/", &opts(), &Providers::default(), no_price).is_err());
    }
}
