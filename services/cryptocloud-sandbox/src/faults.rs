//! Slowness and failure of the API itself: latency, error answers (500, 429, ...) on a
//! fraction of calls, dropped connections. Set by configuration, by `POST /sandbox/faults`,
//! or per request with the `X-Sandbox-*` headers.
//!
//! Fractions are applied deterministically (a rate of 0.25 hits calls 1, 5, 9, ...), so a
//! test knows which call fails and never flakes.

use std::time::Duration;

use actix_web::http::header::HeaderMap;
use serde::{Deserialize, Serialize};

pub const HEADER_LATENCY: &str = "x-sandbox-latency-ms";
pub const HEADER_FAIL: &str = "x-sandbox-fail";
pub const HEADER_DROP: &str = "x-sandbox-drop";

/// The API faults in force (`{}` is "none").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiFaults {
    /// Every API call answers after this many milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// Fraction (0..=1) of calls answered with `error_status`.
    #[serde(default)]
    pub error_rate: f64,
    /// The status of injected errors (default 500; 429 comes with `Retry-After: 1`).
    #[serde(default = "default_error_status")]
    pub error_status: u16,
    /// Fraction (0..=1) of calls whose connection is closed without an answer.
    #[serde(default)]
    pub drop_rate: f64,
    /// The next N calls fail with `error_status` (counts down).
    #[serde(default)]
    pub fail_next: u32,
    /// The next N calls are dropped (counts down).
    #[serde(default)]
    pub drop_next: u32,
    /// Info and list answers carry only what a merchant acts on (`uuid`, `status`, the
    /// amounts, `currency`, `order_id`, `test_mode`): no `created`, `project`, fees or link.
    #[serde(default)]
    pub sparse_info: bool,
}

fn default_error_status() -> u16 {
    500
}

impl Default for ApiFaults {
    fn default() -> Self {
        ApiFaults {
            latency_ms: 0,
            error_rate: 0.0,
            error_status: default_error_status(),
            drop_rate: 0.0,
            fail_next: 0,
            drop_next: 0,
            sparse_info: false,
        }
    }
}

impl ApiFaults {
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("drop_rate", self.drop_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1"));
            }
        }
        if !(400..=599).contains(&self.error_status) {
            return Err("error_status must be between 400 and 599".to_owned());
        }
        if self.latency_ms > 600_000 {
            return Err("latency_ms must be at most 600000".to_owned());
        }
        Ok(())
    }
}

/// What to do with one API call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Answer,
    Fail(u16),
    Drop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub latency: Duration,
    pub action: Action,
}

/// Per-request overrides from the `X-Sandbox-*` headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overrides {
    pub latency_ms: Option<u64>,
    pub fail: Option<u16>,
    pub drop: bool,
}

impl Overrides {
    pub fn from_headers(headers: &HeaderMap) -> Result<Overrides, String> {
        let text = |name: &str| -> Result<Option<String>, String> {
            headers
                .get(name)
                .map(|v| {
                    v.to_str()
                        .map(|s| s.trim().to_owned())
                        .map_err(|_| format!("{name} is not text"))
                })
                .transpose()
        };
        let latency_ms = text(HEADER_LATENCY)?
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| format!("{HEADER_LATENCY} must be milliseconds"))
            })
            .transpose()?;
        let fail = text(HEADER_FAIL)?
            .map(|v| match v.parse::<u16>() {
                Ok(status) if (400..=599).contains(&status) => Ok(status),
                _ => Err(format!(
                    "{HEADER_FAIL} must be an HTTP status between 400 and 599"
                )),
            })
            .transpose()?;
        let drop = match text(HEADER_DROP)?.as_deref() {
            None | Some("0") | Some("false") | Some("") => false,
            Some("1") | Some("true") => true,
            Some(_) => return Err(format!("{HEADER_DROP} must be 1 or 0")),
        };
        Ok(Overrides {
            latency_ms,
            fail,
            drop,
        })
    }
}

/// The configured faults plus the bookkeeping of the deterministic fractions.
#[derive(Debug, Clone)]
pub struct FaultState {
    config: ApiFaults,
    error_credit: f64,
    drop_credit: f64,
}

impl FaultState {
    pub fn new(config: ApiFaults) -> Self {
        // Starting one step short of a hit makes the first call of a non-zero rate faulty,
        // which is what a retry test wants to see.
        FaultState {
            config,
            error_credit: 1.0 - config.error_rate,
            drop_credit: 1.0 - config.drop_rate,
        }
    }

    pub fn config(&self) -> ApiFaults {
        self.config
    }

    pub fn decide(&mut self, overrides: Overrides) -> Decision {
        let latency = Duration::from_millis(overrides.latency_ms.unwrap_or(self.config.latency_ms));
        let action = if overrides.drop {
            Action::Drop
        } else if let Some(status) = overrides.fail {
            Action::Fail(status)
        } else if self.config.drop_next > 0 {
            self.config.drop_next -= 1;
            Action::Drop
        } else if self.config.fail_next > 0 {
            self.config.fail_next -= 1;
            Action::Fail(self.config.error_status)
        } else if hit(&mut self.drop_credit, self.config.drop_rate) {
            Action::Drop
        } else if hit(&mut self.error_credit, self.config.error_rate) {
            Action::Fail(self.config.error_status)
        } else {
            Action::Answer
        };
        Decision { latency, action }
    }
}

/// Adds `rate` to `credit`; a whole unit of credit is one hit.
fn hit(credit: &mut f64, rate: f64) -> bool {
    if rate <= 0.0 {
        return false;
    }
    *credit += rate;
    if *credit >= 1.0 - 1e-9 {
        *credit -= 1.0;
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn actions(state: &mut FaultState, n: usize) -> Vec<Action> {
        (0..n)
            .map(|_| state.decide(Overrides::default()).action)
            .collect()
    }

    #[test]
    fn no_faults_answers_every_call() {
        let mut state = FaultState::new(ApiFaults::default());
        assert!(actions(&mut state, 10).iter().all(|a| *a == Action::Answer));
    }

    #[test]
    fn rates_are_deterministic_and_start_with_a_hit() {
        let mut state = FaultState::new(ApiFaults {
            error_rate: 0.5,
            ..ApiFaults::default()
        });
        use Action::*;
        assert_eq!(
            actions(&mut state, 6),
            vec![Fail(500), Answer, Fail(500), Answer, Fail(500), Answer]
        );
        let mut state = FaultState::new(ApiFaults {
            error_rate: 0.25,
            error_status: 429,
            ..ApiFaults::default()
        });
        let got = actions(&mut state, 8);
        assert_eq!(got.iter().filter(|a| **a == Fail(429)).count(), 2);
        assert_eq!(got[0], Fail(429));
        assert_eq!(got[4], Fail(429));
        let mut state = FaultState::new(ApiFaults {
            drop_rate: 1.0,
            ..ApiFaults::default()
        });
        assert_eq!(actions(&mut state, 3), vec![Drop, Drop, Drop]);
    }

    #[test]
    fn next_counters_count_down() {
        let mut state = FaultState::new(ApiFaults {
            fail_next: 2,
            drop_next: 1,
            ..ApiFaults::default()
        });
        use Action::*;
        assert_eq!(
            actions(&mut state, 4),
            vec![Drop, Fail(500), Fail(500), Answer]
        );
        assert_eq!(state.config().fail_next, 0);
    }

    #[test]
    fn headers_override() {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static(HEADER_FAIL),
            HeaderValue::from_static("429"),
        );
        headers.insert(
            HeaderName::from_static(HEADER_LATENCY),
            HeaderValue::from_static("15"),
        );
        let o = Overrides::from_headers(&headers).unwrap();
        let mut state = FaultState::new(ApiFaults::default());
        let d = state.decide(o);
        assert_eq!(d.action, Action::Fail(429));
        assert_eq!(d.latency, Duration::from_millis(15));

        headers.insert(
            HeaderName::from_static(HEADER_DROP),
            HeaderValue::from_static("1"),
        );
        assert_eq!(
            state
                .decide(Overrides::from_headers(&headers).unwrap())
                .action,
            Action::Drop
        );

        headers.insert(
            HeaderName::from_static(HEADER_FAIL),
            HeaderValue::from_static("200"),
        );
        assert!(Overrides::from_headers(&headers).is_err());
    }

    #[test]
    fn validation() {
        assert!(ApiFaults::default().validate().is_ok());
        assert!(ApiFaults {
            error_rate: 1.5,
            ..ApiFaults::default()
        }
        .validate()
        .is_err());
        assert!(ApiFaults {
            error_status: 302,
            ..ApiFaults::default()
        }
        .validate()
        .is_err());
    }
}
