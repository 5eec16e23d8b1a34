//! TLS on the S3 listener (`--tls-cert FILE --tls-key FILE`), with rustls and its ring
//! provider.
//!
//! - Both HTTP/1.1 and HTTP/2 are offered through ALPN (`h2`, then `http/1.1`); hyper's auto
//!   builder behind the handshake tells them apart by the client's first bytes, as on plain
//!   connections.
//! - The certificate is read through a resolver ([`Certificates`]) that hands every new
//!   handshake the current one, so a reload (SIGHUP, [`reload_on_sighup`]) swaps it without
//!   touching open connections: they keep the session they negotiated. A reload that fails
//!   (missing file, bad PEM, a key that does not match the certificate) keeps the previous
//!   certificate and logs why.
//! - A TLS connection is admitted by the same connection caps as a plain one before its
//!   handshake, and the handshake is bounded ([`handshake`], `limits::TLS_HANDSHAKE_MAX_SECS`
//!   unless configured shorter), so a client that opens a socket and sends nothing, or a
//!   ClientHello a byte at a time, gives its slot back.
//! - Requests that arrived over TLS carry `s3::policy_context::SecureTransport` in their
//!   extensions (set by [`Transport`]), which policies see as `aws:SecureTransport`.
//! - `--health-listen ADDR` adds a plain-HTTP listener that answers only the health check
//!   (for load balancers that probe without TLS) and refuses everything else ([`Entry`]).

mod transport;

pub use transport::{accept, Entry, Transport, HEALTH_PATH};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// The PEM files of the S3 listener's certificate (chain, leaf first) and private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The certificate new handshakes get; swapped whole by [`Certificates::reload`].
pub struct Certificates {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates").field("files", &self.files).finish_non_exhaustive()
    }
}

impl Certificates {
    /// Reads the files; an error names the file and what is wrong with it.
    pub fn load(files: TlsFiles) -> Result<Arc<Self>, String> {
        // Chosen explicitly: tests link aws-lc-rs too, and with two providers compiled in
        // rustls would not pick one by itself.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = read(&files, &provider)?;
        Ok(Arc::new(Self { files, provider, current: RwLock::new(Arc::new(key)) }))
    }

    /// Reads the files again; new handshakes get the new certificate, open connections keep
    /// theirs. On an error the previous certificate stays in use.
    pub fn reload(&self) -> Result<(), String> {
        let key = Arc::new(read(&self.files, &self.provider)?);
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = key;
        Ok(())
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    fn current(&self) -> Arc<CertifiedKey> {
        // Only whole `Arc`s are ever stored, so a poisoned lock still holds a good one.
        Arc::clone(&self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// The acceptor of the S3 listener: TLS 1.2 and 1.3, no client certificates, ALPN
    /// `h2` and `http/1.1`, certificates from `self`.
    pub fn acceptor(self: &Arc<Self>) -> Result<TlsAcceptor, String> {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The certificate chain and key of `files`, checked to belong together.
fn read(files: &TlsFiles, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    let (cert_path, key_path) = (files.cert.display(), files.key.display());
    let cert_pem = std::fs::read(&files.cert).map_err(|e| format!("reading TLS certificate {cert_path}: {e}"))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("TLS certificate {cert_path}: not a PEM certificate chain: {e}"))?;
    if chain.is_empty() {
        return Err(format!("TLS certificate {cert_path}: no `-----BEGIN CERTIFICATE-----` block in it"));
    }
    let key_pem = std::fs::read(&files.key).map_err(|e| format!("reading TLS key {key_path}: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("TLS key {key_path}: no PEM private key (PKCS#8, PKCS#1 or SEC1) in it: {e}"))?;
    warn_if_readable_by_others(files);
    CertifiedKey::from_der(chain, key, provider).map_err(|e| format!("TLS certificate {cert_path} with key {key_path}: {e}"))
}

/// A private key others can read is worth a warning, not a refusal: the operator may have
/// reasons (a group the service shares with a certificate manager).
fn warn_if_readable_by_others(files: &TlsFiles) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(&files.key) {
        let mode = meta.permissions().mode();
        if mode & 0o004 != 0 {
            tracing::warn!(key = %files.key.display(), mode = format!("{:o}", mode & 0o777), "the TLS private key is readable by every local user");
        }
    }
}

/// Reloads `certs` on every SIGHUP until aborted. Installed before it returns, so a SIGHUP
/// sent once the gateway has started is never the default action (which ends the process).
pub fn reload_on_sighup(certs: Arc<Certificates>) -> Result<tokio::task::JoinHandle<()>, String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup()).map_err(|e| format!("installing the SIGHUP handler: {e}"))?;
    Ok(tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            let certs = Arc::clone(&certs);
            let reloaded = tokio::task::spawn_blocking(move || certs.reload().map(|()| certs)).await;
            match reloaded {
                Ok(Ok(certs)) => tracing::info!(cert = %certs.files().cert.display(), "TLS certificate reloaded"),
                Ok(Err(e)) => tracing::error!(error = %e, "TLS certificate reload failed; still serving the previous certificate"),
                Err(e) => tracing::error!(error = %e, "TLS certificate reload failed; still serving the previous certificate"),
            }
        }
    }))
}

/// Why a TLS handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeFailed {
    #[error("TLS handshake not complete within {0:?}")]
    TimedOut(Duration),
    #[error("TLS handshake failed: {0}")]
    Failed(std::io::Error),
}

/// The server side of a handshake on `socket`, within `within`.
pub async fn handshake(acceptor: &TlsAcceptor, socket: TcpStream, within: Duration) -> Result<TlsStream<TcpStream>, HandshakeFailed> {
    match tokio::time::timeout(within, acceptor.accept(socket)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(HandshakeFailed::Failed(e)),
        Err(_) => Err(HandshakeFailed::TimedOut(within)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &std::path::Path, name: &str, cert: &str, key: &str) -> TlsFiles {
        let files = TlsFiles { cert: dir.join(format!("{name}.crt")), key: dir.join(format!("{name}.key")) };
        std::fs::write(&files.cert, cert).unwrap();
        std::fs::write(&files.key, key).unwrap();
        files
    }

    fn self_signed(name: &str) -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    fn served_cert(certs: &Certificates) -> Vec<u8> {
        certs.current().end_entity_cert().unwrap().to_vec()
    }

    #[test]
    fn a_bad_reload_keeps_the_previous_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed("one.test");
        let files = write_pair(dir.path(), "tls", &cert, &key);
        let certs = Certificates::load(files.clone()).unwrap();
        let first = served_cert(&certs);

        std::fs::write(&files.cert, "not a certificate").unwrap();
        let e = certs.reload().unwrap_err();
        assert!(e.contains("tls.crt") && e.contains("BEGIN CERTIFICATE"), "{e}");
        assert_eq!(served_cert(&certs), first);

        // A certificate with another certificate's key.
        let (other_cert, _) = self_signed("two.test");
        std::fs::write(&files.cert, &other_cert).unwrap();
        let e = certs.reload().unwrap_err();
        assert!(e.contains("tls.key"), "{e}");
        assert_eq!(served_cert(&certs), first);

        std::fs::remove_file(&files.key).unwrap();
        assert!(certs.reload().unwrap_err().contains("reading TLS key"));

        let (cert, key) = self_signed("three.test");
        write_pair(dir.path(), "tls", &cert, &key);
        certs.reload().unwrap();
        assert_ne!(served_cert(&certs), first, "a good reload swaps the certificate");
    }

    #[test]
    fn load_names_the_file_that_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = self_signed("one.test");
        let files = write_pair(dir.path(), "x", &cert, "-----BEGIN NOTHING-----\n-----END NOTHING-----\n");
        let e = Certificates::load(files).unwrap_err();
        assert!(e.contains("x.key") && e.contains("no PEM private key"), "{e}");
        let missing = TlsFiles { cert: dir.path().join("absent.crt"), key: dir.path().join("x.key") };
        assert!(Certificates::load(missing).unwrap_err().contains("absent.crt"));
    }
}
