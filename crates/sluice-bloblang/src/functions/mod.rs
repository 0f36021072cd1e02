//! Functions, one module per Benthos category.

use crate::env::Environment;

pub(crate) mod environment;
pub(crate) mod general;
pub(crate) mod message;

pub(crate) fn register(env: &mut Environment) {
    message::register(env);
    general::register(env);
    environment::register(env);
}
