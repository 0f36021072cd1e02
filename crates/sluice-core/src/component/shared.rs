//! One instance of a processor or output resource behind every reference
//! to its label, as in Benthos: a resource output referenced from two
//! `switch` cases holds one connection, a processor resource keeps one
//! state. Each reference is a handle; the instance is closed when the last
//! handle is.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;

use crate::component::output::{Output, OutputError};
use crate::component::processor::{Failed, Processor, ProcessorError};
use crate::message::Batch;

/// A processor resource's one instance.
#[derive(Clone)]
pub struct SharedProcessor {
    inner: Arc<dyn Processor>,
    open: Arc<AtomicUsize>,
}

impl SharedProcessor {
    /// Shares `processor`.
    pub fn new(processor: Box<dyn Processor>) -> Self {
        Self {
            inner: Arc::from(processor),
            open: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A handle for one more reference.
    pub fn handle(&self) -> Box<dyn Processor> {
        self.open.fetch_add(1, Ordering::AcqRel);
        Box::new(self.clone())
    }
}

#[async_trait]
impl Processor for SharedProcessor {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        self.inner.process(batch).await
    }

    async fn close(&self) -> Result<(), ProcessorError> {
        if self.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            return self.inner.close().await;
        }
        Ok(())
    }
}

/// An output resource's one instance.
#[derive(Clone)]
pub struct SharedOutput {
    inner: Arc<dyn Output>,
    state: Arc<OutputState>,
}

struct OutputState {
    open: AtomicUsize,
    ever_connected: AtomicBool,
    // One connect at a time: the references start together.
    connecting: tokio::sync::Mutex<()>,
}

impl SharedOutput {
    /// Shares `output`.
    pub fn new(output: Arc<dyn Output>) -> Self {
        Self {
            inner: output,
            state: Arc::new(OutputState {
                open: AtomicUsize::new(0),
                ever_connected: AtomicBool::new(false),
                connecting: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// A handle for one more reference.
    pub fn handle(&self) -> Arc<dyn Output> {
        self.state.open.fetch_add(1, Ordering::AcqRel);
        Arc::new(self.clone())
    }
}

#[async_trait]
impl Output for SharedOutput {
    async fn connect(&self) -> Result<(), OutputError> {
        let _one_at_a_time = self.state.connecting.lock().await;
        // Another reference connected it and it still is: nothing to do.
        if self.state.ever_connected.load(Ordering::Acquire) && self.inner.connected() {
            return Ok(());
        }
        self.inner.connect().await?;
        self.state.ever_connected.store(true, Ordering::Release);
        Ok(())
    }

    async fn write(&self, batch: &Batch) -> Result<(), OutputError> {
        self.inner.write(batch).await
    }

    async fn close(&self) -> Result<(), OutputError> {
        if self.state.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            return self.inner.close().await;
        }
        Ok(())
    }

    fn connected(&self) -> bool {
        self.inner.connected()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Counting {
        connects: AtomicUsize,
        closes: AtomicUsize,
        up: AtomicBool,
    }

    #[async_trait]
    impl Output for Counting {
        async fn connect(&self) -> Result<(), OutputError> {
            self.connects.fetch_add(1, Ordering::SeqCst);
            self.up.store(true, Ordering::SeqCst);
            Ok(())
        }
        async fn write(&self, _: &Batch) -> Result<(), OutputError> {
            Ok(())
        }
        async fn close(&self) -> Result<(), OutputError> {
            self.closes.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        fn connected(&self) -> bool {
            self.up.load(Ordering::SeqCst)
        }
    }

    #[tokio::test]
    async fn two_references_connect_and_close_the_instance_once() {
        let counting = Arc::new(Counting::default());
        let shared = SharedOutput::new(Arc::clone(&counting) as Arc<dyn Output>);
        let (a, b) = (shared.handle(), shared.handle());
        a.connect().await.unwrap();
        b.connect().await.unwrap();
        assert_eq!(counting.connects.load(Ordering::SeqCst), 1);
        // A lost connection is made again by whichever reference asks.
        counting.up.store(false, Ordering::SeqCst);
        b.connect().await.unwrap();
        assert_eq!(counting.connects.load(Ordering::SeqCst), 2);
        a.close().await.unwrap();
        assert_eq!(counting.closes.load(Ordering::SeqCst), 0);
        b.close().await.unwrap();
        assert_eq!(counting.closes.load(Ordering::SeqCst), 1);
    }
}
