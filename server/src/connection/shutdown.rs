//! How the server tells a connection it is shutting down.

use tokio::sync::oneshot;

/// Tells a connection the server is shutting down; it then closes with 1001.
#[derive(Debug, Default)]
pub struct ShutdownSignal(Option<oneshot::Receiver<()>>);

impl ShutdownSignal {
    /// A signal that fires when `rx` receives.
    pub fn new(rx: oneshot::Receiver<()>) -> Self {
        ShutdownSignal(Some(rx))
    }

    /// A signal that never fires.
    pub fn never() -> Self {
        ShutdownSignal(None)
    }

    /// Cancel-safe: resolves once shutdown is asked for. A dropped sender
    /// means nobody will ever ask, not that shutdown began.
    pub(super) async fn fired(&mut self) {
        if let Some(rx) = &mut self.0 {
            if rx.await.is_ok() {
                return;
            }
            self.0 = None;
        }
        std::future::pending().await
    }
}
