//! TLS certificate checks: handshake, then judge the certificate. An invalid chain, a wrong host
//! name or an expired certificate is down; fewer than `warn_days` days left is degraded.
//!
//! The handshake uses a verifier that records the real verifier's verdict instead of failing, so
//! the check can still read the certificate and say *why* it is invalid.

use super::{Outcome, TlsSpec};
use crate::condition::Observed;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// `https://host:port/path` -> (host, port).
pub fn host_port_of_url(url: &str) -> (String, u16) {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => match p.parse() {
            Ok(port) => (h.trim_matches(['[', ']']).to_string(), port),
            Err(_) => (authority.to_string(), 443),
        },
        _ => (authority.trim_matches(['[', ']']).to_string(), 443),
    }
}

#[derive(Debug)]
struct Recording {
    inner: Arc<dyn ServerCertVerifier>,
    verdict: Mutex<Option<String>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Err(e) =
            self.inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            *self.verdict.lock().unwrap() = Some(e.to_string());
        }
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn verifier(spec: &TlsSpec) -> Result<Arc<dyn ServerCertVerifier>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    match &spec.ca_file {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_pki_types_pem(&pem) {
                roots
                    .add(cert)
                    .map_err(|e| format!("invalid certificate in {}: {e}", path.display()))?;
            }
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map(|v| v as Arc<dyn ServerCertVerifier>)
                .map_err(|e| format!("cannot use {}: {e}", path.display()))
        }
        None => rustls_platform_verifier::Verifier::new(provider)
            .map(|v| Arc::new(v) as Arc<dyn ServerCertVerifier>)
            .map_err(|e| format!("cannot load the system's certificates: {e}")),
    }
}

/// Certificates in a PEM bundle.
fn rustls_pki_types_pem(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

pub async fn check(spec: &TlsSpec, timeout: Duration) -> (Outcome, Observed, Option<String>) {
    let mut observed = Observed::default();
    let inner = match verifier(spec) {
        Ok(v) => v,
        Err(e) => return (Outcome::Down, observed, Some(e)),
    };
    let recording = Arc::new(Recording {
        inner,
        verdict: Mutex::new(None),
    });
    let config = match rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    {
        Ok(b) => b
            .dangerous()
            .with_custom_certificate_verifier(recording.clone())
            .with_no_client_auth(),
        Err(e) => return (Outcome::Down, observed, Some(format!("TLS setup: {e}"))),
    };
    let Ok(server_name) = ServerName::try_from(spec.host.clone()) else {
        return (Outcome::Down, observed, Some("invalid host name".into()));
    };
    let started = Instant::now();
    let result = tokio::time::timeout(timeout, async {
        let tcp = TcpStream::connect((spec.host.as_str(), spec.port)).await?;
        tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(server_name, tcp)
            .await
    })
    .await;
    let stream = match result {
        Err(_) => {
            observed.connected = Some(false);
            return (
                Outcome::Down,
                observed,
                Some(format!("timed out after {} ms", timeout.as_millis())),
            );
        }
        Ok(Err(e)) => {
            observed.connected = Some(false);
            return (
                Outcome::Down,
                observed,
                Some(format!("TLS handshake failed: {e}")),
            );
        }
        Ok(Ok(s)) => s,
    };
    observed.connected = Some(true);
    observed.response_time = Some(started.elapsed());
    let Some(cert) = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .cloned()
    else {
        return (
            Outcome::Down,
            observed,
            Some("the server sent no certificate".into()),
        );
    };
    let not_after = match x509_parser::parse_x509_certificate(&cert) {
        Ok((_, c)) => c.validity().not_after.timestamp(),
        Err(e) => {
            return (
                Outcome::Down,
                observed,
                Some(format!("cannot parse the certificate: {e}")),
            );
        }
    };
    let left = not_after - chrono::Utc::now().timestamp();
    observed.cert_expiry = Some(Duration::from_secs(left.max(0) as u64));
    let days = left.div_euclid(86_400);
    if let Some(v) = recording.verdict.lock().unwrap().take() {
        return (
            Outcome::Down,
            observed,
            Some(format!("invalid certificate: {v}")),
        );
    }
    if left <= 0 {
        (
            Outcome::Down,
            observed,
            Some("the certificate has expired".into()),
        )
    } else if days < i64::from(spec.warn_days) {
        (
            Outcome::Degraded,
            observed,
            Some(format!(
                "the certificate expires in {days} days (warning below {})",
                spec.warn_days
            )),
        )
    } else {
        (Outcome::Up, observed, None)
    }
}
