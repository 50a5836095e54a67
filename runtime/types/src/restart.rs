//! Restart strategies: what the JobManager does when a task fails with an
//! error a restart could cure (a trap, a lost TaskManager). Named and shaped
//! as Flink's; the default, as in Flink without checkpointing, is `none`.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::quantity::parse_duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
#[schemars(transform = crate::schema::one_object_of_variants)]
pub enum RestartStrategy {
    /// The first failure fails the job.
    #[default]
    None,
    /// Up to `attempts` restarts, `delay` apart.
    #[serde(rename_all = "camelCase")]
    FixedDelay {
        #[serde(default = "default_attempts")]
        attempts: u32,
        #[serde(default = "default_delay")]
        delay: String,
    },
    /// Restarts with a delay that starts at `initialDelay` and grows by
    /// `multiplier` up to `maxDelay`; after `resetThreshold` of running
    /// without a failure the delay starts over. `attempts` caps the restarts
    /// (unbounded when absent).
    #[serde(rename_all = "camelCase")]
    ExponentialDelay {
        #[serde(default = "default_initial_delay")]
        initial_delay: String,
        #[serde(default = "default_max_delay")]
        max_delay: String,
        #[serde(default = "default_multiplier")]
        multiplier: f64,
        #[serde(default = "default_reset_threshold")]
        reset_threshold: String,
        #[serde(default)]
        attempts: Option<u32>,
    },
}

fn default_attempts() -> u32 {
    3
}
fn default_delay() -> String {
    "1s".into()
}
fn default_initial_delay() -> String {
    "1s".into()
}
fn default_max_delay() -> String {
    "1m".into()
}
fn default_multiplier() -> f64 {
    2.0
}
fn default_reset_threshold() -> String {
    "1h".into()
}

/// Where the restart count stands, and when the job last failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestartHistory {
    /// Restarts so far.
    pub restarts: u32,
    /// Restarts since the exponential delay last started over.
    pub since_reset: u32,
}

impl RestartStrategy {
    /// Exponential-delay with every default: what a checkpointed job gets
    /// when its spec names no strategy.
    pub fn exponential_default() -> RestartStrategy {
        RestartStrategy::ExponentialDelay {
            initial_delay: default_initial_delay(),
            max_delay: default_max_delay(),
            multiplier: default_multiplier(),
            reset_threshold: default_reset_threshold(),
            attempts: None,
        }
    }

    /// Checks the durations and numbers; `at` is the field's path.
    pub fn validate(&self, at: &str) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        let mut duration = |field: &str, value: &str| {
            if let Err(e) = parse_duration(value) {
                errors.push((format!("{at}.{field}"), e.to_string()));
            }
        };
        match self {
            RestartStrategy::None => {}
            RestartStrategy::FixedDelay { delay, .. } => duration("delay", delay),
            RestartStrategy::ExponentialDelay {
                initial_delay,
                max_delay,
                reset_threshold,
                multiplier,
                ..
            } => {
                duration("initialDelay", initial_delay);
                duration("maxDelay", max_delay);
                duration("resetThreshold", reset_threshold);
                if !(multiplier.is_finite() && *multiplier >= 1.0) {
                    errors.push((
                        format!("{at}.multiplier"),
                        format!("must be a number of at least 1, got {multiplier}"),
                    ));
                }
            }
        }
        errors
    }

    /// The delay before the next restart, or `None` when the job must fail.
    /// `ran_for` is how long the failed attempt ran.
    pub fn next_delay(&self, history: &mut RestartHistory, ran_for: Duration) -> Option<Duration> {
        let parse = |value: &str| parse_duration(value).unwrap_or(Duration::from_secs(1));
        let delay = match self {
            RestartStrategy::None => return None,
            RestartStrategy::FixedDelay { attempts, delay } => {
                if history.restarts >= *attempts {
                    return None;
                }
                parse(delay)
            }
            RestartStrategy::ExponentialDelay {
                initial_delay,
                max_delay,
                multiplier,
                reset_threshold,
                attempts,
            } => {
                if attempts.is_some_and(|limit| history.restarts >= limit) {
                    return None;
                }
                if ran_for >= parse(reset_threshold) {
                    history.since_reset = 0;
                }
                let initial = parse(initial_delay).as_secs_f64();
                let grown = initial * multiplier.powi(history.since_reset.min(64) as i32);
                Duration::from_secs_f64(grown.min(parse(max_delay).as_secs_f64()))
            }
        };
        history.restarts += 1;
        history.since_reset += 1;
        Some(delay)
    }

    /// The strategy as people write it, for status lines.
    pub fn describe(&self) -> String {
        match self {
            RestartStrategy::None => "none".into(),
            RestartStrategy::FixedDelay { attempts, delay } => {
                format!("fixed-delay ({attempts} attempts, {delay} apart)")
            }
            RestartStrategy::ExponentialDelay {
                initial_delay,
                max_delay,
                ..
            } => format!("exponential-delay ({initial_delay} up to {max_delay})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_never_restarts() {
        let mut history = RestartHistory::default();
        assert_eq!(
            RestartStrategy::None.next_delay(&mut history, Duration::ZERO),
            None
        );
    }

    #[test]
    fn fixed_delay_stops_after_its_attempts() {
        let strategy = RestartStrategy::FixedDelay {
            attempts: 2,
            delay: "250ms".into(),
        };
        let mut history = RestartHistory::default();
        let ms = Duration::from_millis;
        assert_eq!(strategy.next_delay(&mut history, ms(5)), Some(ms(250)));
        assert_eq!(strategy.next_delay(&mut history, ms(5)), Some(ms(250)));
        assert_eq!(strategy.next_delay(&mut history, ms(5)), None);
        assert_eq!(history.restarts, 2);
    }

    #[test]
    fn exponential_delay_grows_caps_and_resets() {
        let strategy = RestartStrategy::ExponentialDelay {
            initial_delay: "100ms".into(),
            max_delay: "350ms".into(),
            multiplier: 2.0,
            reset_threshold: "10s".into(),
            attempts: None,
        };
        let mut history = RestartHistory::default();
        let ms = Duration::from_millis;
        let delays: Vec<_> = (0..4)
            .map(|_| strategy.next_delay(&mut history, ms(10)).unwrap())
            .collect();
        assert_eq!(delays, vec![ms(100), ms(200), ms(350), ms(350)]);
        // A long healthy run starts the delay over.
        assert_eq!(
            strategy.next_delay(&mut history, Duration::from_secs(11)),
            Some(ms(100))
        );
    }

    #[test]
    fn parses_from_yaml_with_flink_names() {
        let strategy: RestartStrategy =
            serde_yaml_ng::from_str("type: fixed-delay\nattempts: 5\ndelay: 2s\n").unwrap();
        assert_eq!(
            strategy,
            RestartStrategy::FixedDelay {
                attempts: 5,
                delay: "2s".into()
            }
        );
        let error = serde_yaml_ng::from_str::<RestartStrategy>("type: sometimes\n").unwrap_err();
        assert!(error.to_string().contains("unknown variant"), "{error}");
    }
}
