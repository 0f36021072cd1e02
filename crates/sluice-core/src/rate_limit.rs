//! The rate limit contract (Benthos `rate_limit_resources`).

use std::time::Duration;

use async_trait::async_trait;

use crate::component::BoxError;

/// A shared limiter. `access` either grants the call (returns zero) or says
/// how long to wait before trying again.
#[async_trait]
pub trait RateLimit: Send + Sync {
    /// Asks for one access.
    async fn access(&self) -> Result<Duration, BoxError>;
}
