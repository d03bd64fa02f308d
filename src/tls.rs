//! TLS listeners: `tls = { cert = "...", key = "..." }` on a `[listener.NAME]`.
//!
//! The certificate chain and private key are PEM files, served with rustls
//! (ring). The server's configuration does not hold the certificate itself
//! but a [`ReloadingCert`], which hands out the current one for each new
//! connection. [`ReloadingCert::watch`] reads the two files again every
//! [`POLL_INTERVAL`]; when they changed and load (the key matches the
//! certificate), the new pair is swapped in. Connections already open keep
//! the session they have, and a pair that does not load is logged and
//! ignored, so the old certificate stays in service.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// How often the certificate files are read for changes.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The files of a TLS listener (paths already resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The certificate in service, replaced when its files change.
#[derive(Debug)]
pub struct ReloadingCert {
    files: CertFiles,
    current: ArcSwap<CertifiedKey>,
    /// The file contents last tried (loaded or refused), to act on changes only.
    last_read: Mutex<(Vec<u8>, Vec<u8>)>,
}

impl ReloadingCert {
    /// Loads the pair; the error says which file is wrong and why.
    pub fn load(files: CertFiles) -> Result<Arc<ReloadingCert>, String> {
        let (cert, key) = read(&files)?;
        let certified = certified_key(&files, &cert, &key)?;
        let current = ArcSwap::from_pointee(certified);
        Ok(Arc::new(ReloadingCert { files, current, last_read: Mutex::new((cert, key)) }))
    }

    /// Reads the files again; swaps in the new pair if they changed and load.
    /// Returns whether a new certificate is now in service.
    pub fn refresh(&self) -> bool {
        let Ok((cert, key)) = read(&self.files) else {
            // A file missing for a moment (being replaced): try again later.
            return false;
        };
        let Ok(mut last) = self.last_read.lock() else { return false };
        if last.0 == cert && last.1 == key {
            return false;
        }
        let outcome = certified_key(&self.files, &cert, &key);
        *last = (cert, key);
        drop(last);
        match outcome {
            Ok(certified) => {
                self.current.store(Arc::new(certified));
                tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded");
                true
            }
            Err(message) => {
                tracing::error!("TLS certificate not reloaded, the previous one stays in service: {message}");
                false
            }
        }
    }

    /// Polls the files every [`POLL_INTERVAL`] on a thread of its own, for
    /// as long as the process runs.
    pub fn watch(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let spawned = std::thread::Builder::new().name("relay-tls-reload".to_owned()).spawn(move || {
            while let Some(cert) = weak.upgrade() {
                cert.refresh();
                drop(cert);
                std::thread::sleep(POLL_INTERVAL);
            }
        });
        if let Err(e) = spawned {
            tracing::warn!("TLS certificate files are not watched: {e}");
        }
    }

    /// The rustls server configuration serving this certificate (HTTP/1.1).
    pub fn server_config(self: &Arc<Self>) -> Result<rustls::ServerConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        Ok(config)
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn read(files: &CertFiles) -> Result<(Vec<u8>, Vec<u8>), String> {
    let read = |path: &PathBuf, what: &str| {
        std::fs::read(path).map_err(|e| format!("cannot read the TLS {what} {}: {e}", path.display()))
    };
    Ok((read(&files.cert, "certificate")?, read(&files.key, "key")?))
}

fn certified_key(files: &CertFiles, cert: &[u8], key: &[u8]) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{} is not a PEM certificate chain: {e}", files.cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{} holds no PEM certificate", files.cert.display()));
    }
    let key = PrivateKeyDer::from_pem_slice(key)
        .map_err(|e| format!("{} is not a PEM private key: {e}", files.key.display()))?;
    let provider: CryptoProvider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, key, &provider).map_err(|e| {
        format!("the key {} does not serve the certificate {}: {e}", files.key.display(), files.cert.display())
    })
}
