//! How an `amqp_0_9` connection applies the `tls` block. Trusted roots and
//! the client certificate go to lapin's own rustls connector (the
//! platform's roots plus the configured ones); `skip_cert_verify` needs a
//! rustls configuration of our own, because lapin's always verifies.

use std::sync::Arc;

use lapin::tcp::{OwnedIdentity, OwnedTLSConfig, RustlsConnector};
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    CryptoProvider, verify_tls12_signature, verify_tls13_signature,
};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{ClientConfig, DigitallySignedStruct, Error, SignatureScheme};

use crate::tls::TlsConfig;

/// The TLS settings of an `amqps://` connection, files already read.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct AmqpTls {
    /// Extra trusted roots and the client certificate, as lapin takes them.
    pub(crate) lapin: OwnedTLSConfig,
    /// `skip_cert_verify`: any server certificate is accepted.
    pub(crate) skip_verify: bool,
}

/// Reads a `tls` block (files at build time). As in Benthos, the URL scheme
/// decides whether TLS is used; the block only tunes it.
pub(crate) fn tls_config(tls: &TlsConfig) -> Result<AmqpTls, String> {
    if !tls.enabled {
        return Ok(AmqpTls::default());
    }
    if tls.enable_renegotiation {
        // rustls never renegotiates.
        return Err("amqp_0_9 field tls.enable_renegotiation is not supported yet".to_owned());
    }
    let read = |field: &str, path: &str| {
        std::fs::read_to_string(path).map_err(|e| format!("failed to read {field} {path:?}: {e}"))
    };
    let mut roots = tls.root_cas.clone();
    if !tls.root_cas_file.is_empty() {
        if !roots.is_empty() && !roots.ends_with('\n') {
            roots.push('\n');
        }
        roots.push_str(&read("tls.root_cas_file", &tls.root_cas_file)?);
    }
    let identity = match tls.client_certs.as_slice() {
        [] => None,
        [cert] => {
            if !cert.password.is_empty() {
                return Err(
                    "amqp_0_9 field tls.client_certs.password (encrypted keys) is not supported yet"
                        .to_owned(),
                );
            }
            let pem = match (cert.cert.is_empty(), cert.cert_file.is_empty()) {
                (false, _) => cert.cert.clone(),
                (true, false) => read("tls.client_certs.cert_file", &cert.cert_file)?,
                (true, true) => {
                    return Err("tls.client_certs entry needs cert or cert_file".to_owned());
                }
            };
            let key = match (cert.key.is_empty(), cert.key_file.is_empty()) {
                (false, _) => cert.key.clone(),
                (true, false) => read("tls.client_certs.key_file", &cert.key_file)?,
                (true, true) => {
                    return Err("tls.client_certs entry needs key or key_file".to_owned());
                }
            };
            Some(OwnedIdentity::PKCS8 {
                pem: pem.into_bytes(),
                key: key.into_bytes(),
            })
        }
        _ => {
            return Err(
                "more than one amqp_0_9 tls.client_certs entry is not supported yet".to_owned(),
            );
        }
    };
    let config = AmqpTls {
        lapin: OwnedTLSConfig {
            identity,
            cert_chain: (!roots.is_empty()).then_some(roots),
        },
        skip_verify: tls.skip_cert_verify,
    };
    if config.skip_verify {
        // Bad PEM shows at build time rather than at every connection.
        unverified_connector(&config.lapin)?;
    }
    Ok(config)
}

/// A connector that accepts any server certificate (`skip_cert_verify`),
/// still presenting the client certificate if one is configured. The
/// handshake signatures are still checked, so the server must hold the key
/// of the certificate it sends.
pub(crate) fn unverified_connector(config: &OwnedTLSConfig) -> Result<RustlsConnector, String> {
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServerCert(provider)));
    let client = match &config.identity {
        None => builder.with_no_client_auth(),
        Some(OwnedIdentity::PKCS8 { pem, key }) => {
            let certs = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("invalid tls.client_certs certificate: {e}"))?;
            if certs.is_empty() {
                return Err("tls.client_certs certificate holds no PEM certificate".to_owned());
            }
            let key = PrivateKeyDer::from_pem_slice(key)
                .map_err(|e| format!("invalid tls.client_certs key: {e}"))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("invalid tls.client_certs entry: {e}"))?
        }
        Some(OwnedIdentity::PKCS12 { .. }) => {
            return Err("PKCS#12 client certificates are not supported yet".to_owned());
        }
    };
    Ok(RustlsConnector::from(client))
}

/// Accepts every server certificate; checks only that the handshake is
/// signed by the key of the certificate the server sent.
#[derive(Debug)]
struct AnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
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
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::ClientCertConfig;

    fn tls(f: impl FnOnce(&mut TlsConfig)) -> Result<AmqpTls, String> {
        let mut config = TlsConfig {
            enabled: true,
            ..TlsConfig::default()
        };
        f(&mut config);
        tls_config(&config)
    }

    #[test]
    fn maps_the_tls_block() {
        let dir = std::env::temp_dir().join(format!("sluice-amqp-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, "FILE CA").unwrap();
        let key_file = dir.join("key.pem");
        std::fs::write(&key_file, "FILE KEY").unwrap();

        assert_eq!(tls_config(&TlsConfig::default()), Ok(AmqpTls::default()));
        assert_eq!(tls(|_| {}), Ok(AmqpTls::default()));
        let both = tls(|t| {
            t.root_cas = "INLINE CA".to_owned();
            t.root_cas_file = ca_file.display().to_string();
        })
        .unwrap();
        assert_eq!(both.lapin.cert_chain.as_deref(), Some("INLINE CA\nFILE CA"));
        let client = tls(|t| {
            t.client_certs = vec![ClientCertConfig {
                cert: "CERT".to_owned(),
                key_file: key_file.display().to_string(),
                ..ClientCertConfig::default()
            }];
        })
        .unwrap();
        assert_eq!(
            client.lapin.identity,
            Some(OwnedIdentity::PKCS8 {
                pem: b"CERT".to_vec(),
                key: b"FILE KEY".to_vec(),
            })
        );
        let skip = tls(|t| t.skip_cert_verify = true).unwrap();
        assert!(skip.skip_verify);
        // With skip_cert_verify the client certificate is parsed at once.
        let bad = tls(|t| {
            t.skip_cert_verify = true;
            t.client_certs = vec![ClientCertConfig {
                cert: "CERT".to_owned(),
                key: "KEY".to_owned(),
                ..ClientCertConfig::default()
            }];
        });
        assert_eq!(
            bad,
            Err("tls.client_certs certificate holds no PEM certificate".to_owned())
        );
        assert_eq!(
            tls(|t| t.enable_renegotiation = true),
            Err("amqp_0_9 field tls.enable_renegotiation is not supported yet".to_owned())
        );
        let missing = tls(|t| t.root_cas_file = dir.join("nope.pem").display().to_string());
        assert!(
            missing
                .as_ref()
                .is_err_and(|e| e.starts_with("failed to read tls.root_cas_file")),
            "{missing:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
