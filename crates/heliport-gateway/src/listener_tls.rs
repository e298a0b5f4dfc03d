//! TLS on the listener: a rustls server configuration offering HTTP/2 and
//! HTTP/1.1 (ALPN) whose certificate is read from files and swapped
//! atomically on reload (SIGHUP), so connections already open keep theirs
//! and new ones get the new one, without a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::upstream::tls::{load_certs, load_key, provider};

/// The certificate in force, behind an atomic swap.
#[derive(Debug)]
struct CertSlot {
    current: ArcSwap<CertifiedKey>,
}

impl ResolvesServerCert for CertSlot {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// The listener's TLS: its acceptor, and the files it reloads from.
pub struct ListenerTls {
    acceptor: TlsAcceptor,
    slot: Arc<CertSlot>,
    cert_path: PathBuf,
    key_path: PathBuf,
}

impl std::fmt::Debug for ListenerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerTls")
            .field("cert", &self.cert_path)
            .field("key", &self.key_path)
            .finish_non_exhaustive()
    }
}

/// The certificate chain and key from the files, checked to belong together.
fn certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, String> {
    let chain = load_certs(cert).map_err(|e| format!("tls.cert: {e}"))?;
    let key_der = load_key(key).map_err(|e| format!("tls.key: {e}"))?;
    let ck = CertifiedKey::from_der(chain, key_der, &provider()).map_err(|e| {
        format!(
            "tls.cert {} and tls.key {} do not make a usable pair: {e}",
            cert.display(),
            key.display()
        )
    })?;
    Ok(Arc::new(ck))
}

impl ListenerTls {
    /// Read the certificate chain and key; an error names the file and the problem.
    pub fn load(cert: &Path, key: &Path) -> Result<ListenerTls, String> {
        let slot = Arc::new(CertSlot {
            current: ArcSwap::new(certified_key(cert, key)?),
        });
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(slot.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(ListenerTls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            slot,
            cert_path: cert.to_path_buf(),
            key_path: key.to_path_buf(),
        })
    }

    /// Read the files again and serve the new certificate to new connections.
    /// On any error the certificate in force stays.
    pub fn reload(&self) -> Result<(), String> {
        let ck = certified_key(&self.cert_path, &self.key_path)?;
        self.slot.current.store(ck);
        Ok(())
    }

    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// The certificate file (for logs).
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }
}
