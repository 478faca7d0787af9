//! While a dependency (CryptoCloud or PostgreSQL) is known to be down, the consumer stops
//! taking deliveries instead of cycling them through the retry path: a group that failed
//! for an outage closes the gate for a pause (1 s, doubling up to 30 s); the next group
//! after the pause is the probe, and a group that gets through opens it again.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::counters;

const FIRST_PAUSE: Duration = Duration::from_secs(1);
const LONGEST_PAUSE: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub struct DependencyGate {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Closed until then.
    until: Option<Instant>,
    pause: Duration,
}

impl DependencyGate {
    /// A group failed because a dependency is down.
    pub fn trip(&self, reason: &str) {
        let mut state = self.state.lock().expect("gate lock");
        let first = state.until.is_none();
        state.pause = if first {
            FIRST_PAUSE
        } else {
            (state.pause * 2).min(LONGEST_PAUSE)
        };
        state.until = Some(Instant::now() + state.pause);
        if first {
            tracing::warn!(%reason, "a dependency is down: pausing consumption");
        }
        metrics::gauge!(counters::DEPENDENCY_DOWN).set(1.0);
    }

    /// A group got through: the dependencies answer again.
    pub fn reset(&self) {
        let mut state = self.state.lock().expect("gate lock");
        if state.until.take().is_some() {
            tracing::info!("dependencies answer again: consuming");
        }
        state.pause = Duration::ZERO;
        metrics::gauge!(counters::DEPENDENCY_DOWN).set(0.0);
    }

    pub fn is_closed(&self) -> bool {
        self.state.lock().expect("gate lock").until.is_some()
    }

    /// Waits out the current pause; false when `shutdown` came first.
    pub async fn pass(&self, shutdown: &CancellationToken) -> bool {
        let until = self.state.lock().expect("gate lock").until;
        match until {
            Some(until) if until > Instant::now() => tokio::select! {
                _ = tokio::time::sleep_until(until) => true,
                _ = shutdown.cancelled() => false,
            },
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pauses_double_up_to_the_longest_and_reset_opens_at_once() {
        let gate = DependencyGate::default();
        let never = CancellationToken::new();
        assert!(!gate.is_closed());
        let start = Instant::now();
        assert!(gate.pass(&never).await);
        assert_eq!(start.elapsed(), Duration::ZERO);
        let mut expected = Duration::ZERO;
        for pause in [1, 2, 4, 8, 16, 30, 30] {
            gate.trip("api_error");
            assert!(gate.is_closed());
            assert!(gate.pass(&never).await);
            expected += Duration::from_secs(pause);
            assert_eq!(start.elapsed(), expected);
        }
        gate.reset();
        assert!(!gate.is_closed());
        gate.trip("api_error");
        let before = Instant::now();
        assert!(gate.pass(&never).await);
        assert_eq!(
            before.elapsed(),
            FIRST_PAUSE,
            "a reset starts the pauses over"
        );
    }
}
