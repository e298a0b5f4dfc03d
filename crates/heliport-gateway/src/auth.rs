//! Who is asking (SPEC §2): the `Helicone-Auth` key, and the rule that a
//! heliport key never travels to a provider.

use heliport_core::error::{ErrorCode, GatewayError};
use heliport_store::auth::bearer;
use heliport_store::keys::KEY_PREFIX;
use http::header::{self, HeaderName};

use crate::pipeline::Ctx;
use crate::state::{AuthMode, GatewayState};

/// `Helicone-Auth` (SPEC §2). Proxying needs a key with `w`.
pub(crate) async fn authenticate(
    state: &GatewayState,
    ctx: &mut Ctx,
    headers: &http::HeaderMap,
) -> Result<(), GatewayError> {
    let raw = headers.get(HELICONE_AUTH);
    let Some(raw) = raw else {
        return match state.cfg.auth_mode {
            AuthMode::Optional => {
                ctx.org_id = Some(state.cfg.default_org_id.clone());
                Ok(())
            }
            AuthMode::Required => Err(GatewayError::new(
                ErrorCode::MissingAuth,
                "Helicone-Auth header is missing: send 'Helicone-Auth: Bearer <heliport key>' (create one with `heliport keys create --name NAME`)",
            )),
        };
    };
    let key = raw.to_str().ok().and_then(bearer).ok_or_else(|| {
        GatewayError::new(
            ErrorCode::InvalidAuth,
            "Helicone-Auth must be 'Bearer <heliport key>'",
        )
    })?;
    let grant = state.keys.authenticate(key).await.ok_or_else(|| {
        GatewayError::new(
            ErrorCode::InvalidAuth,
            "Helicone-Auth: the key is unknown or revoked",
        )
    })?;
    if !grant.permissions.write {
        return Err(GatewayError::new(
            ErrorCode::Forbidden,
            "Helicone-Auth: this key is read-only; proxying needs a key with write permission (w or rw)",
        ));
    }
    ctx.org_id = Some(grant.org_id);
    ctx.key_id = Some(grant.key_id);
    Ok(())
}

/// Names looked up on every request are made once: a name given as a string
/// is parsed again at each lookup.
const HELICONE_AUTH: HeaderName = HeaderName::from_static("helicone-auth");

/// Headers that carry a provider's credential.
const CREDENTIAL_HEADERS: [HeaderName; 3] = [
    header::AUTHORIZATION,
    HeaderName::from_static("x-api-key"),
    HeaderName::from_static("api-key"),
];

/// A heliport key in a provider credential header would be sent to the
/// provider: refuse the request instead (SPEC §1).
pub(crate) fn refuse_heliport_keys(
    state: &GatewayState,
    headers: &http::HeaderMap,
) -> Result<(), GatewayError> {
    let helicone_key = helicone_key(headers);
    for name in &CREDENTIAL_HEADERS {
        for value in headers.get_all(name) {
            if let Ok(v) = value.to_str() {
                check_credential(state, name.as_str(), v, helicone_key)?;
            }
        }
    }
    Ok(())
}

/// The key in the request's `Helicone-Auth`.
pub(crate) fn helicone_key(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get(HELICONE_AUTH)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
}

/// Refuse `value` for header `name` when `name` carries provider credentials
/// and the value is a heliport key (any `sk-heliport-` key, the request's
/// own, or any key this instance holds in memory).
pub(crate) fn check_credential(
    state: &GatewayState,
    name: &str,
    value: &str,
    helicone_key: Option<&str>,
) -> Result<(), GatewayError> {
    if !CREDENTIAL_HEADERS
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h.as_str()))
    {
        return Ok(());
    }
    let token = bearer(value).unwrap_or_else(|| value.trim());
    if token.is_empty() {
        return Ok(());
    }
    if token.starts_with(KEY_PREFIX) || helicone_key == Some(token) || state.keys.knows(token) {
        return Err(GatewayError::new(
            ErrorCode::InvalidRequest,
            format!(
                "the {name} header carries a heliport key, which heliport never sends to a provider: put the provider's own key in {name} and the heliport key in Helicone-Auth"
            ),
        ));
    }
    Ok(())
}
