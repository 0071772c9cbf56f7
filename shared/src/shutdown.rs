//! Process shutdown: one future that resolves on SIGTERM or SIGINT, shareable by every server.

use tokio::sync::watch;

/// A cloneable shutdown signal. `trigger` fires it from code (tests); signals fire it in binaries.
#[derive(Clone)]
pub struct Shutdown {
    tx: watch::Sender<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    pub fn new() -> Self {
        Self { tx: watch::channel(false).0 }
    }

    /// Fires on SIGTERM or SIGINT.
    pub fn on_signals() -> Self {
        let this = Self::new();
        let tx = this.tx.clone();
        tokio::spawn(async move {
            let ctrl_c = tokio::signal::ctrl_c();
            #[cfg(unix)]
            let term = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot listen for SIGTERM");
                        futures::future::pending::<()>().await;
                    }
                }
            };
            #[cfg(not(unix))]
            let term = futures::future::pending::<()>();
            tokio::select! {
                _ = ctrl_c => tracing::info!("SIGINT received, shutting down"),
                _ = term => tracing::info!("SIGTERM received, shutting down"),
            }
            let _ = tx.send(true);
        });
        this
    }

    pub fn trigger(&self) {
        let _ = self.tx.send(true);
    }

    /// Whether shutdown has been requested.
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves once shutdown has been requested.
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|fired| *fired).await;
    }
}
