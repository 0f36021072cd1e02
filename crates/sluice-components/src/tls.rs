//! The `tls` block that Benthos's network clients share (`http_client`,
//! `http`, the Kafka family, `amqp_0_9`); each client applies it its own way.

use schemars::JsonSchema;
use serde::Deserialize;

/// Client-side TLS settings.
#[derive(Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TlsConfig {
    /// Whether TLS is used.
    pub(crate) enabled: bool,
    /// Whether the server certificate is accepted without verification.
    pub(crate) skip_cert_verify: bool,
    /// Whether the server may ask to renegotiate.
    pub(crate) enable_renegotiation: bool,
    /// PEM certificate authorities to trust, inline.
    pub(crate) root_cas: String,
    /// A file of PEM certificate authorities to trust.
    pub(crate) root_cas_file: String,
    /// Client certificates presented to the server.
    pub(crate) client_certs: Vec<ClientCertConfig>,
}

/// One client certificate, inline or from files.
#[derive(Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ClientCertConfig {
    /// A PEM certificate, inline.
    pub(crate) cert: String,
    /// A PEM private key, inline.
    pub(crate) key: String,
    /// A certificate file.
    pub(crate) cert_file: String,
    /// A private key file.
    pub(crate) key_file: String,
    /// The password of an encrypted private key (not supported yet).
    pub(crate) password: String,
}
