//! Functions, one module per Benthos category.

use crate::env::Environment;

pub(crate) mod encoding;
pub(crate) mod environment;
pub(crate) mod fake;
pub(crate) mod general;
pub(crate) mod ids;
pub(crate) mod message;

pub(crate) fn register(env: &mut Environment) {
    message::register(env);
    general::register(env);
    ids::register(env);
    environment::register(env);
    encoding::register(env);
    fake::register(env);
}
