//! The `tls` block that Benthos's network clients share (`http_client`,
//! `http`, the Kafka family, `amqp_0_9`); each client applies it its own way.

use serde::Deserialize;

/// Client-side TLS settings.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TlsConfig {
    pub(crate) enabled: bool,
    pub(crate) skip_cert_verify: bool,
    pub(crate) enable_renegotiation: bool,
    pub(crate) root_cas: String,
    pub(crate) root_cas_file: String,
    pub(crate) client_certs: Vec<ClientCertConfig>,
}

/// One client certificate, inline or from files.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ClientCertConfig {
    pub(crate) cert: String,
    pub(crate) key: String,
    pub(crate) cert_file: String,
    pub(crate) key_file: String,
    pub(crate) password: String,
}
