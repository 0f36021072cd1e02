//! Connection states of a stream's input and output, for `/ready`.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

/// One component's connection as `/ready` reports it, in Benthos's shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConnectionStatus {
    /// The component's label (empty when it has none).
    pub label: String,
    /// Where the component sits in the config: `input` or `output`.
    pub path: String,
    /// Whether it is connected now.
    pub connected: bool,
    /// Why it is not, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Whether a component is connected, and the last connection error.
/// Written by the task that connects it, read by `/ready`.
#[derive(Default)]
pub struct ConnectionState {
    connected: AtomicBool,
    error: Mutex<Option<String>>,
    label: String,
}

impl ConnectionState {
    /// The state of the component labelled `label`.
    pub fn labelled(label: &str) -> Self {
        Self {
            label: label.to_owned(),
            ..Self::default()
        }
    }

    /// Records a successful connection.
    pub fn up(&self) {
        *self.error.lock().expect("connection lock poisoned") = None;
        self.connected.store(true, Ordering::Release);
    }

    /// Records a failed connection attempt.
    pub fn failed(&self, err: &dyn fmt::Display) {
        self.connected.store(false, Ordering::Release);
        *self.error.lock().expect("connection lock poisoned") = Some(err.to_string());
    }

    /// Records a lost connection (a reconnection follows).
    pub fn lost(&self) {
        self.connected.store(false, Ordering::Release);
    }

    /// Whether the last attempt connected.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// The status to report under `path`; `still_connected` lets the
    /// component itself veto a connection it knows to be gone.
    pub fn status(&self, path: &str, still_connected: bool) -> ConnectionStatus {
        let connected = self.is_connected() && still_connected;
        let error = if connected {
            None
        } else {
            let last = self.error.lock().expect("connection lock poisoned").clone();
            Some(last.unwrap_or_else(|| "not connected".to_owned()))
        };
        ConnectionStatus {
            label: self.label.clone(),
            path: path.to_owned(),
            connected,
            error,
        }
    }
}
