//! Per-request response stores (Benthos `transaction/result_store.go`).

use std::sync::{Arc, Mutex};

use crate::message::{Batch, Message};

/// Where responders put the messages that answer one request.
///
/// `http_server` creates one per request and attaches it to the context of
/// every message of the request's batch.
#[derive(Clone, Default)]
pub struct ResponseStore(Arc<Shared>);

#[derive(Default)]
struct Shared {
    stored: Mutex<Stored>,
    // Set for an answer streamed as it is produced: woken on each push.
    pushed: Option<tokio::sync::Notify>,
}

/// The batches stored so far. Nearly every request is answered by a single
/// batch, which is kept without a list around it.
#[derive(Default)]
enum Stored {
    #[default]
    Empty,
    One(Batch),
    Many(Vec<Batch>),
}

impl ResponseStore {
    /// A store whose reader is woken by each push ([`ResponseStore::pushed`]).
    pub fn streaming() -> Self {
        Self(Arc::new(Shared {
            stored: Mutex::default(),
            pushed: Some(tokio::sync::Notify::new()),
        }))
    }

    /// Resolves once a batch was pushed since the last call (or at once if
    /// one was pushed before it); never, for a store that is not streaming.
    pub async fn pushed(&self) {
        match &self.0.pushed {
            Some(notify) => notify.notified().await,
            None => std::future::pending().await,
        }
    }

    /// Appends a deep copy of `batch` with the copies' contexts stripped, which
    /// breaks the store -> message -> store cycle.
    pub fn push(&self, batch: &Batch) {
        let copy = batch.deep_clone_without_context();
        {
            let mut stored = self.0.stored.lock().expect("response store lock poisoned");
            *stored = match std::mem::take(&mut *stored) {
                Stored::Empty => Stored::One(copy),
                Stored::One(first) => Stored::Many(vec![first, copy]),
                Stored::Many(mut all) => {
                    all.push(copy);
                    Stored::Many(all)
                }
            };
        }
        if let Some(notify) = &self.0.pushed {
            // One stored permit: a push while the reader is busy is not lost.
            notify.notify_one();
        }
    }

    /// Drains every stored batch, in append order.
    pub fn take(&self) -> Vec<Batch> {
        match self.take_stored() {
            Stored::Empty => Vec::new(),
            Stored::One(only) => vec![only],
            Stored::Many(all) => all,
        }
    }

    /// Drains every stored message, in append order.
    pub fn take_messages(&self) -> Vec<Message> {
        match self.take_stored() {
            Stored::Empty => Vec::new(),
            Stored::One(only) => only.into_messages(),
            Stored::Many(all) => all.into_iter().flatten().collect(),
        }
    }

    fn take_stored(&self) -> Stored {
        std::mem::take(&mut *self.0.stored.lock().expect("response store lock poisoned"))
    }

    fn same(&self, other: &ResponseStore) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Stores `batch` as a response, grouped by each message's own store so that
/// every caller gets only its own messages, also when batching merged several
/// requests. Returns how many messages had no store.
pub fn store_responses(batch: &Batch) -> usize {
    let mut without_store = 0;
    // Most batches belong to a single request: handle that without grouping.
    let first = batch.first().and_then(Message::response_store);
    if let Some(first) = first
        && batch
            .iter()
            .all(|m| m.response_store().is_some_and(|s| s.same(first)))
    {
        first.push(batch);
        return 0;
    }
    let mut groups: Vec<(ResponseStore, Vec<Message>)> = Vec::new();
    for msg in batch.iter() {
        let Some(store) = msg.response_store() else {
            without_store += 1;
            continue;
        };
        match groups.iter_mut().find(|(s, _)| s.same(store)) {
            Some((_, msgs)) => msgs.push(msg.clone()),
            None => groups.push((store.clone(), vec![msg.clone()])),
        }
    }
    for (store, msgs) in groups {
        store.push(&Batch::new(msgs));
    }
    without_store
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::MessageContext;

    fn msg(body: &str, store: &ResponseStore) -> Message {
        let mut m = Message::new(body.to_owned());
        m.set_context(MessageContext::with_response_store(store.clone()));
        m
    }

    #[test]
    fn each_request_gets_only_its_own_messages() {
        let (a, b) = (ResponseStore::default(), ResponseStore::default());
        let batch = Batch::new(vec![msg("a1", &a), msg("b1", &b), msg("a2", &a)]);
        assert_eq!(store_responses(&batch), 0);
        let got = a.take_messages();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].content(), b"a2");
        assert!(got[0].response_store().is_none());
        let got_b: Vec<_> = b.take().into_iter().flatten().collect();
        assert_eq!(got_b.len(), 1);
        assert_eq!(store_responses(&Batch::from(Message::new("x"))), 1);
    }

    #[test]
    fn several_pushes_are_kept_in_order() {
        let store = ResponseStore::default();
        assert!(store.take_messages().is_empty());
        store.push(&Batch::from(Message::new("1")));
        store.push(&Batch::new(vec![Message::new("2"), Message::new("3")]));
        store.push(&Batch::from(Message::new("4")));
        let bodies: Vec<_> = store
            .take_messages()
            .iter()
            .map(|m| m.content().to_vec())
            .collect();
        assert_eq!(bodies, [b"1", b"2", b"3", b"4"]);
        assert!(store.take().is_empty());
        store.push(&Batch::from(Message::new("5")));
        assert_eq!(store.take().len(), 1);
    }
}
