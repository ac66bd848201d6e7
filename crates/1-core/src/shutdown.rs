//! A small shutdown signal that any number of tasks can wait on.

use tokio::sync::watch;

/// Sends the shutdown signal.
#[derive(Clone)]
pub struct Trigger(watch::Sender<bool>);

/// Waits for the shutdown signal.
#[derive(Clone)]
pub struct Signal(watch::Receiver<bool>);

/// A connected trigger and signal.
pub fn channel() -> (Trigger, Signal) {
    let (tx, rx) = watch::channel(false);
    (Trigger(tx), Signal(rx))
}

impl Trigger {
    /// Tells every waiter to stop.
    pub fn fire(&self) {
        let _ = self.0.send(true);
    }

    /// A new signal connected to this trigger.
    pub fn signal(&self) -> Signal {
        Signal(self.0.subscribe())
    }
}

impl Signal {
    /// Resolves once the trigger fired (or was dropped).
    pub async fn wait(&mut self) {
        while !*self.0.borrow() {
            if self.0.changed().await.is_err() {
                return;
            }
        }
    }

    /// Whether the trigger has fired.
    pub fn fired(&self) -> bool {
        *self.0.borrow()
    }
}
