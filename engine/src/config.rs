//! Session configuration: a builder for embedders, and the same settings as `SET` properties.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::assignment::{PartitionAssignor, Strategy};
use crate::error::{Error, Result};

/// What happens to an input record that cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorPolicy {
    /// Count it, report it, and go on (the default).
    Skip,
    /// Stop the query with [`Error::BadRecord`](crate::Error::BadRecord).
    Fail,
    /// Count it, report it, and append it with the reason to the `DEAD_LETTERS` stream.
    DeadLetter,
}

impl ErrorPolicy {
    fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "skip" => Ok(Self::Skip),
            "fail" => Ok(Self::Fail),
            "dead-letter" | "dead_letter" | "deadletter" => Ok(Self::DeadLetter),
            other => Err(Error::Config(format!(
                "errors.policy must be skip, fail or dead-letter, not '{other}'"
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Skip => "skip",
            Self::Fail => "fail",
            Self::DeadLetter => "dead-letter",
        }
    }
}

/// Settings of a [`Session`](crate::Session). Build one with [`Config::builder`]; a session
/// changes its copy with `SET 'name' = 'value'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub(crate) batch_max_rows: usize,
    pub(crate) batch_max_delay: Duration,
    pub(crate) error_policy: ErrorPolicy,
    /// Workers (consumer instances) processing partitions.
    pub(crate) workers: usize,
    /// How partitions are assigned to workers.
    pub(crate) strategy: Strategy,
    /// The map `assignment.static` gives (kept when the strategy changes).
    pub(crate) static_map: Vec<(usize, usize)>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            batch_max_rows: 8192,
            batch_max_delay: Duration::from_millis(100),
            error_policy: ErrorPolicy::Skip,
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            strategy: Strategy::RoundRobin,
            static_map: Vec::new(),
        }
    }
}

/// The most workers a session runs (each is a thread).
pub(crate) const MAX_WORKERS: usize = 1024;

/// Property names accepted by `SET`.
pub(crate) const PROPERTIES: &[(&str, &str)] = &[
    (
        "batch.max.rows",
        "a micro-batch closes after this many records per source",
    ),
    (
        "batch.max.delay",
        "...or this many milliseconds after its first record, whichever comes first",
    ),
    (
        "errors.policy",
        "skip, fail or dead-letter: what happens to records that cannot be read",
    ),
    (
        "workers",
        "how many workers (consumer instances) process partitions; running queries follow",
    ),
    (
        "assignment.strategy",
        "round-robin, range or static: which worker processes which partitions",
    ),
    (
        "assignment.static",
        "partition:worker pairs for the static strategy, e.g. '0:1, 1:0'",
    ),
];

impl Config {
    /// A builder starting from the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder {
            config: Config::default(),
        }
    }

    /// Records per micro-batch before it closes (volume trigger).
    pub fn batch_max_rows(&self) -> usize {
        self.batch_max_rows
    }

    /// Time after a batch's first record before it closes (time trigger).
    pub fn batch_max_delay(&self) -> Duration {
        self.batch_max_delay
    }

    /// What happens to unreadable records.
    pub fn error_policy(&self) -> ErrorPolicy {
        self.error_policy
    }

    /// Applies `SET 'name' = 'value'`.
    pub(crate) fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let parse_num = |v: &str| -> Result<u64> {
            v.trim()
                .parse::<u64>()
                .map_err(|_| Error::Config(format!("{name} must be a whole number, not '{v}'")))
        };
        match name.to_ascii_lowercase().as_str() {
            "batch.max.rows" => {
                let n = parse_num(value)?;
                if n == 0 {
                    return Err(Error::Config("batch.max.rows must be at least 1".into()));
                }
                self.batch_max_rows = n as usize;
            }
            "batch.max.delay" | "batch.max.delay.ms" => {
                self.batch_max_delay = Duration::from_millis(parse_num(value)?);
            }
            "errors.policy" => self.error_policy = ErrorPolicy::parse(value)?,
            "workers" | "threads" => {
                let n = parse_num(value)?;
                if !(1..=MAX_WORKERS as u64).contains(&n) {
                    return Err(Error::Config(format!(
                        "workers must be from 1 to {MAX_WORKERS}, not {n}"
                    )));
                }
                self.workers = n as usize;
            }
            "assignment.strategy" => {
                self.strategy = Strategy::parse(value, &self.static_map)?;
            }
            "assignment.static" => {
                self.static_map = Strategy::parse_static(value)?;
                if let Strategy::Static(map) = &mut self.strategy {
                    map.clone_from(&self.static_map);
                }
            }
            other => {
                let names = PROPERTIES.iter().map(|(n, _)| *n);
                let hint = weir_parser::closest_match(other, names)
                    .map(|s| format!(" (did you mean '{s}'?)"))
                    .unwrap_or_default();
                return Err(Error::Config(format!("unknown property '{name}'{hint}")));
            }
        }
        Ok(())
    }

    /// The properties as `SHOW PROPERTIES` lists them.
    pub(crate) fn properties(&self) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("batch.max.rows", self.batch_max_rows.to_string()),
            (
                "batch.max.delay",
                self.batch_max_delay.as_millis().to_string(),
            ),
            ("errors.policy", self.error_policy.name().to_string()),
            ("workers", self.workers.to_string()),
            ("assignment.strategy", self.strategy.name()),
            (
                "assignment.static",
                self.static_map
                    .iter()
                    .map(|(p, w)| format!("{p}:{w}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ])
    }
}

/// Builds a [`Config`].
///
/// ```
/// use weir::{Config, ErrorPolicy};
/// let config = Config::builder().batch_max_rows(1000).error_policy(ErrorPolicy::Fail).build()?;
/// assert_eq!(config.batch_max_rows(), 1000);
/// # Ok::<(), weir::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    config: Config,
}

impl ConfigBuilder {
    /// Records per micro-batch (volume trigger).
    pub fn batch_max_rows(mut self, rows: usize) -> Self {
        self.config.batch_max_rows = rows;
        self
    }

    /// Longest wait for a batch to fill (time trigger).
    pub fn batch_max_delay(mut self, delay: Duration) -> Self {
        self.config.batch_max_delay = delay;
        self
    }

    /// What happens to unreadable records.
    pub fn error_policy(mut self, policy: ErrorPolicy) -> Self {
        self.config.error_policy = policy;
        self
    }

    /// How many workers (consumer instances, each a thread) process partitions.
    pub fn workers(mut self, workers: usize) -> Self {
        self.config.workers = workers;
        self
    }

    /// Assigns partitions to workers with `assignor` instead of round-robin.
    pub fn assignor(mut self, assignor: impl PartitionAssignor + 'static) -> Self {
        self.config.strategy = Strategy::Custom(Arc::new(assignor));
        self
    }

    /// Validates and returns the configuration.
    pub fn build(self) -> Result<Config> {
        if self.config.batch_max_rows == 0 {
            return Err(Error::Config("batch_max_rows must be at least 1".into()));
        }
        if !(1..=MAX_WORKERS).contains(&self.config.workers) {
            return Err(Error::Config(format!(
                "workers must be from 1 to {MAX_WORKERS}, not {}",
                self.config.workers
            )));
        }
        Ok(self.config)
    }
}
