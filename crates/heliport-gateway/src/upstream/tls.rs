//! Whom the upstream client trusts: the bundled web roots, the platform's
//! store, or both, plus an operator's CA bundle; and, for a provider marked
//! `tls_insecure`, nobody (development only).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// `gateway.tls_roots`: which roots verify upstream certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsRoots {
    /// The Mozilla roots compiled into heliport (webpki-roots): the same
    /// everywhere, whatever the host has installed.
    #[default]
    Bundled,
    /// The platform's store (on Linux the OpenSSL files, `SSL_CERT_FILE` /
    /// `SSL_CERT_DIR` honoured), where an operator manages roots.
    System,
    /// Both.
    Both,
}

impl std::str::FromStr for TlsRoots {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "bundled" => Ok(TlsRoots::Bundled),
            "system" => Ok(TlsRoots::System),
            "both" => Ok(TlsRoots::Both),
            other => Err(format!(
                "gateway.tls_roots must be 'bundled', 'system' or 'both', got '{other}'"
            )),
        }
    }
}

/// What upstream certificates are verified against.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    pub roots: TlsRoots,
    /// A PEM file of one or more CA certificates trusted in addition to the roots.
    pub ca_bundle: Option<PathBuf>,
}

/// The ring provider, as every heliport TLS configuration uses it.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM file; an error names the file and what is wrong.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let what = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {what}: {e}"))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what} is not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what} holds no PEM certificate"));
    }
    Ok(certs)
}

/// The private key in a PEM file (PKCS#8, PKCS#1 or SEC1). The error never
/// shows any of the file's content.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let what = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {what}: {e}"))?;
    PrivateKeyDer::from_pem_slice(&bytes)
        .map_err(|e| format!("{what} holds no usable PEM private key: {e}"))
}

/// What a root store was built from, for the start-up log.
#[derive(Debug, Clone, Default)]
pub struct TrustSummary {
    pub bundled: usize,
    pub system: usize,
    pub ca_bundle: usize,
}

/// The root store `trust` describes. A CA bundle that cannot be read or holds
/// no certificate, and a system store with no usable certificate, are errors:
/// heliport never starts with less trust than it was told to have.
pub fn root_store(trust: &Trust) -> Result<(RootCertStore, TrustSummary), String> {
    let mut store = RootCertStore::empty();
    let mut summary = TrustSummary::default();
    if matches!(trust.roots, TlsRoots::Bundled | TlsRoots::Both) {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        summary.bundled = webpki_roots::TLS_SERVER_ROOTS.len();
    }
    if matches!(trust.roots, TlsRoots::System | TlsRoots::Both) {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::warn!(error = %e, "gateway.tls_roots: part of the system trust store could not be read");
        }
        let (added, ignored) = store.add_parsable_certificates(found.certs);
        if ignored > 0 {
            tracing::warn!(
                ignored,
                "gateway.tls_roots: system certificates that are not valid trust anchors were skipped"
            );
        }
        if added == 0 {
            return Err(
                "gateway.tls_roots asks for the system trust store, but it holds no usable certificate \
                 (install ca-certificates, or set SSL_CERT_FILE)"
                    .into(),
            );
        }
        summary.system = added;
    }
    if let Some(path) = &trust.ca_bundle {
        let certs = load_certs(path).map_err(|e| format!("gateway.ca_bundle: {e}"))?;
        for c in certs {
            store.add(c).map_err(|e| {
                format!(
                    "gateway.ca_bundle: {} holds a certificate that is not a valid CA: {e}",
                    path.display()
                )
            })?;
            summary.ca_bundle += 1;
        }
    }
    Ok((store, summary))
}

/// A client configuration verifying against `roots` (ALPN is set by the connector).
pub fn client_config(roots: Arc<RootCertStore>) -> Result<ClientConfig, rustls::Error> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A client configuration that accepts any certificate: only for providers
/// an operator marked `tls_insecure` (and logged loudly when heliport starts).
/// The handshake's signatures are still checked, so the peer must hold the
/// key of the certificate it shows; who signed that certificate is not.
pub fn insecure_client_config() -> Result<ClientConfig, rustls::Error> {
    let provider = provider();
    Ok(ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
        .with_no_client_auth())
}

#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Why a TLS handshake with an upstream failed, in words for the client.
pub(crate) fn describe_tls_error(e: &rustls::Error, host: &str) -> String {
    match e {
        rustls::Error::InvalidCertificate(why) => format!(
            "the TLS certificate of {host} did not verify ({}); if it is signed by a private CA, \
             trust that CA with gateway.ca_bundle (HELIPORT_CA_BUNDLE)",
            certificate_words(why)
        ),
        other => format!("the TLS handshake with {host} failed: {other}"),
    }
}

fn certificate_words(e: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    match e {
        C::UnknownIssuer => "it is signed by an unknown certificate authority".into(),
        C::Expired | C::ExpiredContext { .. } => "it has expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => "it is not valid yet".into(),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "it is not valid for this host name".into()
        }
        C::Revoked => "it has been revoked".into(),
        C::BadSignature => "its signature is bad".into(),
        C::BadEncoding => "it is malformed".into(),
        other => format!("{other:?}"),
    }
}
