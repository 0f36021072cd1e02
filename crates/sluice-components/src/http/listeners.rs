//! Listening sockets that outlive one stream, so that a reloaded stream with
//! its own `http_server` address takes over the socket instead of binding a
//! new one: connections keep being accepted while the old stream drains.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Mutex;

/// Bound sockets by address, kept for the life of the process.
#[derive(Default)]
pub struct ListenerPool {
    sockets: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    listener: TcpListener,
    // Whether the stream being built asked for it since `begin`.
    wanted: bool,
    // Whether the stream being built bound it.
    fresh: bool,
}

impl ListenerPool {
    /// A handle on the socket for `address`: the pooled one when there is
    /// one, else a new one from `bind`. Each caller gets its own descriptor
    /// of the same socket.
    pub(crate) fn listener(
        &self,
        address: &str,
        bind: impl FnOnce() -> std::io::Result<TcpListener>,
    ) -> std::io::Result<TcpListener> {
        let mut sockets = self.sockets.lock().expect("listener pool lock poisoned");
        if let Some(entry) = sockets.get_mut(address) {
            entry.wanted = true;
            // The socket options of the first bind stay: the socket is the
            // same one.
            return entry.listener.try_clone();
        }
        let listener = bind()?;
        let handle = listener.try_clone()?;
        sockets.insert(
            address.to_owned(),
            Entry {
                listener,
                wanted: true,
                fresh: true,
            },
        );
        Ok(handle)
    }

    /// Starts building a new stream: sockets it does not ask for are closed
    /// by the next [`release_unwanted`](Self::release_unwanted).
    pub fn begin(&self) {
        let mut sockets = self.sockets.lock().expect("listener pool lock poisoned");
        for entry in sockets.values_mut() {
            entry.wanted = false;
            entry.fresh = false;
        }
    }

    /// The stream being built failed: closes the sockets it bound, which
    /// nothing will ever accept on.
    pub fn abandon(&self) {
        self.sockets
            .lock()
            .expect("listener pool lock poisoned")
            .retain(|_, entry| !entry.fresh);
    }

    /// Closes the pool's handle on every socket the current stream did not
    /// ask for; the socket closes once the old stream lets go of it too.
    pub fn release_unwanted(&self) {
        self.sockets
            .lock()
            .expect("listener pool lock poisoned")
            .retain(|_, entry| entry.wanted);
    }
}
