//! TLS to PostgreSQL with libpq's `sslmode` and `sslrootcert` URL options (rustls).
//!
//! | `sslmode` | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | |
//! | `allow`, `prefer` (the default) | when the server offers it | not checked (as libpq) |
//! | `require` | always | not checked; with `sslrootcert`, its chain is checked (as libpq) |
//! | `verify-ca` | always | chain checked against `sslrootcert` (default: the system's roots) |
//! | `verify-full` | always | chain and host name checked |
//!
//! `sslrootcert` is a PEM file of CA certificates, or `system` for the system's roots (the
//! default when a mode checks certificates). tokio-postgres itself knows only `disable`,
//! `prefer` and `require`, so these two options are taken out of the URL here.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Nothing,
    Chain,
    ChainAndName,
}

/// The URL without `sslmode`/`sslrootcert`, the mode for tokio-postgres, and the connector.
pub(super) fn configure(url: &str) -> Result<(String, SslMode, MakeRustlsConnect), String> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, q),
        None => (url, ""),
    };
    let mut mode = "prefer".to_string();
    let mut root: Option<String> = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", v)) => mode = v.to_string(),
            Some(("sslrootcert", v)) => root = Some(v.to_string()),
            _ => kept.push(pair),
        }
    }
    let (ssl_mode, check) = match (mode.as_str(), root.is_some()) {
        ("disable", _) => (SslMode::Disable, Check::Nothing),
        ("allow" | "prefer", _) => (SslMode::Prefer, Check::Nothing),
        ("require", false) => (SslMode::Require, Check::Nothing),
        ("require", true) | ("verify-ca", _) => (SslMode::Require, Check::Chain),
        ("verify-full", _) => (SslMode::Require, Check::ChainAndName),
        (other, _) => {
            return Err(format!(
                "sslmode={other}: expected disable, allow, prefer, require, verify-ca or verify-full"
            ));
        }
    };
    let config = client_config(check, root.as_deref())?;
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, ssl_mode, MakeRustlsConnect::new(config)))
}

fn roots(root: Option<&str>) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match root {
        None | Some("system") => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                let _ = store.add(c);
            }
            if store.is_empty() {
                return Err(
                    "sslrootcert: no system root certificates found; name a CA file (sslrootcert=/path/ca.pem)".into(),
                );
            }
        }
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| format!("sslrootcert {path}: {e}"))?;
            let mut n = 0;
            for c in rustls_pki_types::pem::PemObject::pem_slice_iter(&pem) {
                let c: CertificateDer<'static> =
                    c.map_err(|e| format!("sslrootcert {path}: {e}"))?;
                store
                    .add(c)
                    .map_err(|e| format!("sslrootcert {path}: {e}"))?;
                n += 1;
            }
            if n == 0 {
                return Err(format!("sslrootcert {path}: no PEM certificate in it"));
            }
        }
    }
    Ok(store)
}

fn client_config(check: Check, root: Option<&str>) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let verifier: Arc<dyn ServerCertVerifier> = match check {
        Check::Nothing => Arc::new(Relaxed {
            chain: None,
            provider,
        }),
        Check::Chain | Check::ChainAndName => {
            let webpki = WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots(root)?),
                provider.clone(),
            )
            .build()
            .map_err(|e| e.to_string())?;
            if check == Check::Chain {
                Arc::new(Relaxed {
                    chain: Some(webpki),
                    provider,
                })
            } else {
                webpki
            }
        }
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// The modes that check less than `verify-full`: with `chain`, the certificate's chain is
/// checked and its host name is not (`verify-ca`); without, nothing is (`prefer`, `require`
/// without a root: encrypted, not authenticated, as libpq means them). Handshake signatures are
/// always checked.
#[derive(Debug)]
struct Relaxed {
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Relaxed {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
