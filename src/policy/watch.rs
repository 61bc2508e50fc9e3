//! The `[watch]` section: how `pgwarden watch` samples and judges production.

use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// How `watch` samples pg_stat_statements and what counts as a problem.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchPolicy {
    /// Time between samples (`--interval` overrides).
    #[serde(default = "default_interval", deserialize_with = "duration")]
    pub interval: Duration,
    /// A statement whose mean over an interval is this many times its baseline has regressed.
    #[serde(default = "default_regression_factor")]
    pub regression_factor: f64,
    /// The window the baseline (the median of the interval means) is taken over.
    #[serde(default = "default_baseline_window", deserialize_with = "duration")]
    pub baseline_window: Duration,
    /// Means under this many ms never count as a regression.
    #[serde(default = "default_floor_ms")]
    pub floor_ms: f64,
    /// A session waiting on a lock longer than this is a finding.
    #[serde(default = "default_lock_wait_alert", deserialize_with = "duration")]
    pub lock_wait_alert: Duration,
    /// The database unreachable this long is one alert (a brief disconnect is none).
    #[serde(default = "default_down_alert", deserialize_with = "duration")]
    pub down_alert: Duration,
    /// At most this many statements get their own metric series (by total time in the interval);
    /// the policy's named queries always do.
    #[serde(default = "default_top")]
    pub top: usize,
}

impl Default for WatchPolicy {
    fn default() -> Self {
        Self {
            interval: default_interval(),
            regression_factor: default_regression_factor(),
            baseline_window: default_baseline_window(),
            floor_ms: default_floor_ms(),
            lock_wait_alert: default_lock_wait_alert(),
            down_alert: default_down_alert(),
            top: default_top(),
        }
    }
}

fn default_interval() -> Duration {
    Duration::from_secs(60)
}

fn default_regression_factor() -> f64 {
    2.0
}

fn default_baseline_window() -> Duration {
    Duration::from_secs(3600)
}

fn default_floor_ms() -> f64 {
    1.0
}

fn default_lock_wait_alert() -> Duration {
    Duration::from_secs(30)
}

fn default_down_alert() -> Duration {
    Duration::from_secs(120)
}

fn default_top() -> usize {
    50
}

/// A duration written like `60s`, `5m` or `1h`.
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!(
            "`{text}` is not a duration like 500ms, 60s, 5m or 1h: {e}"
        ))
    })
}

/// Where `watch` sends alerts (`[[alert]]` entries). Secrets come only from environment
/// variables.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
pub enum AlertSink {
    /// A JSON POST to `url` for each trigger and resolve.
    Webhook {
        /// The receiver (http or https).
        url: String,
    },
    /// PagerDuty's Events API v2.
    Pagerduty {
        /// The environment variable holding the integration's routing key.
        routing_key_env: String,
        /// The endpoint (default: PagerDuty's; tests point it at a local receiver).
        #[serde(default = "default_pagerduty_url")]
        url: String,
    },
}

/// PagerDuty's Events API v2 endpoint.
pub const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

fn default_pagerduty_url() -> String {
    PAGERDUTY_URL.into()
}
