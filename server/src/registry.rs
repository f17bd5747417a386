//! The open WebSocket connections: counted against `max_connections` and
//! told when the server shuts down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{oneshot, Notify};

/// The open WebSocket connections, each with its own shutdown signal: a
/// oneshot per connection costs nothing to poll, where a shared channel
/// would put a lock on every read.
#[derive(Default)]
pub(crate) struct Registry {
    state: Mutex<RegistryState>,
    idle: Notify,
}

#[derive(Default)]
struct RegistryState {
    next_id: u64,
    /// Each open connection's shutdown signal; none while it is parked
    /// (its shard resumes it at shutdown, and it takes a new one then).
    open: HashMap<u64, Option<oneshot::Sender<()>>>,
    closing: bool,
}

pub(crate) struct Registration {
    registry: Arc<Registry>,
    id: u64,
}

impl Registry {
    pub(crate) fn open(&self) -> usize {
        self.state.lock().expect("registry lock").open.len()
    }

    /// Registers a connection unless `max` are open or the server is
    /// closing: the check and the registration under one lock, so that
    /// concurrent upgrades cannot overshoot `max`.
    /// With the registration comes the receiving end of the connection's
    /// shutdown signal (a `connection::ShutdownSignal` once wrapped).
    pub(crate) fn register(self: &Arc<Self>, max: usize) -> Option<(Registration, oneshot::Receiver<()>)> {
        let mut state = self.state.lock().expect("registry lock");
        if state.closing || state.open.len() >= max {
            return None;
        }
        let id = state.next_id;
        state.next_id += 1;
        let (tx, rx) = oneshot::channel();
        state.open.insert(id, Some(tx));
        Some((Registration { registry: self.clone(), id }, rx))
    }

    /// Signals every connection; returns how many were open.
    pub(crate) fn shutdown_all(&self) -> usize {
        let mut state = self.state.lock().expect("registry lock");
        state.closing = true;
        let open = state.open.len();
        for tx in state.open.values_mut().filter_map(Option::take) {
            let _ = tx.send(());
        }
        open
    }

    pub(crate) async fn wait_idle(&self) {
        loop {
            let idle = self.idle.notified();
            if self.open() == 0 {
                return;
            }
            idle.await;
        }
    }
}

impl Registration {
    /// Drops the connection's shutdown signal (a parked connection holds
    /// none: ~80 bytes each, and an allocation that kept a page resident).
    pub(crate) fn release_signal(&self) {
        let mut state = self.registry.state.lock().expect("registry lock");
        if let Some(tx) = state.open.get_mut(&self.id) {
            *tx = None;
        }
    }

    /// A new shutdown signal for the connection, fired already if shutdown
    /// has begun.
    pub(crate) fn signal(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut state = self.registry.state.lock().expect("registry lock");
        let closing = state.closing;
        match state.open.get_mut(&self.id) {
            Some(slot) if !closing => *slot = Some(tx),
            _ => {
                let _ = tx.send(());
            }
        }
        rx
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut state = self.registry.state.lock().expect("registry lock");
        state.open.remove(&self.id);
        if state.open.is_empty() {
            self.registry.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_from_many_threads_stop_exactly_at_the_limit() {
        let registry = Arc::new(Registry::default());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let registry = registry.clone();
                std::thread::spawn(move || (0..500).filter_map(|_| registry.register(1000)).collect::<Vec<_>>())
            })
            .collect();
        let held: Vec<_> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
        assert_eq!(held.len(), 1000);
        assert_eq!(registry.open(), 1000);
        assert!(registry.register(1000).is_none());
        drop(held);
        assert_eq!(registry.open(), 0, "dropping a registration frees its slot");
        assert!(registry.register(1000).is_some());
    }

    #[test]
    fn a_released_signal_is_skipped_at_shutdown_and_a_new_one_fires() {
        let registry = Arc::new(Registry::default());
        let (parked, mut released) = registry.register(10).unwrap();
        let (_running, mut running_signal) = registry.register(10).unwrap();
        parked.release_signal();
        assert!(released.try_recv().is_err(), "its sender is gone, nothing was sent");
        let mut before = parked.signal();
        assert!(before.try_recv().is_err(), "not fired before shutdown");
        assert_eq!(registry.shutdown_all(), 2);
        assert_eq!(running_signal.try_recv(), Ok(()));
        assert_eq!(before.try_recv(), Ok(()), "a signal taken again fires with the others");
        assert_eq!(parked.signal().try_recv(), Ok(()), "one taken after shutdown began has fired already");
    }

    #[test]
    fn a_closing_registry_registers_nothing() {
        let registry = Arc::new(Registry::default());
        let (_held, _signal) = registry.register(10).unwrap();
        assert_eq!(registry.shutdown_all(), 1);
        assert!(registry.register(10).is_none());
    }
}
