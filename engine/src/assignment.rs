//! Partition assignment: which worker (a consumer instance, here a thread) processes which
//! partitions of every operator.
//!
//! The strategy is a setting (`SET 'assignment.strategy' = 'round-robin' | 'range' |
//! 'static'`, with `SET 'assignment.static' = '0:1, 1:0, 2:1'` mapping partitions to workers)
//! or, for embedders, any [`PartitionAssignor`]. `SET 'workers' = 'n'` changes the worker count
//! of running queries at their next micro-batch. Results never depend on the assignment: every
//! partition is processed on its own, and a micro-batch ends at the same consistent cut
//! whichever worker ran it, so reassigning keeps results and per-key order identical.

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};

/// Decides which worker processes each partition.
///
/// ```
/// use weir::PartitionAssignor;
///
/// /// Everything on worker 0 except the last partition, which gets a worker of its own.
/// #[derive(Debug)]
/// struct HotPartition;
///
/// impl PartitionAssignor for HotPartition {
///     fn name(&self) -> &str {
///         "hot-partition"
///     }
///     fn assign(&self, partitions: usize, workers: usize) -> Vec<usize> {
///         (0..partitions)
///             .map(|p| if p + 1 == partitions && workers > 1 { 1 } else { 0 })
///             .collect()
///     }
/// }
///
/// let config = weir::Config::builder().workers(2).assignor(HotPartition).build()?;
/// # Ok::<(), weir::Error>(())
/// ```
pub trait PartitionAssignor: Send + Sync + fmt::Debug {
    /// A short name, for `SHOW PROPERTIES` and `SHOW ASSIGNMENTS`.
    fn name(&self) -> &str;

    /// The worker (`0..workers`) of each of `partitions` partitions.
    fn assign(&self, partitions: usize, workers: usize) -> Vec<usize>;
}

/// The built-in strategies, or an embedder's.
#[derive(Clone)]
pub(crate) enum Strategy {
    /// Partition `p` goes to worker `p % workers`.
    RoundRobin,
    /// Contiguous ranges of partitions per worker.
    Range,
    /// An explicit partition → worker map (`assignment.static`); unlisted partitions and
    /// workers beyond the count fall back to round-robin.
    Static(Vec<(usize, usize)>),
    /// An embedder's assignor.
    Custom(Arc<dyn PartitionAssignor>),
}

impl fmt::Debug for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl PartialEq for Strategy {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Strategy::Custom(a), Strategy::Custom(b)) => Arc::ptr_eq(a, b),
            (Strategy::Static(a), Strategy::Static(b)) => a == b,
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        }
    }
}

impl Eq for Strategy {}

impl Strategy {
    pub(crate) fn name(&self) -> String {
        match self {
            Strategy::RoundRobin => "round-robin".into(),
            Strategy::Range => "range".into(),
            Strategy::Static(_) => "static".into(),
            Strategy::Custom(a) => a.name().to_string(),
        }
    }

    /// `assignment.strategy`.
    pub(crate) fn parse(name: &str, current_static: &[(usize, usize)]) -> Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "round-robin" | "roundrobin" | "round_robin" => Ok(Strategy::RoundRobin),
            "range" => Ok(Strategy::Range),
            "static" => Ok(Strategy::Static(current_static.to_vec())),
            other => Err(Error::Config(format!(
                "assignment.strategy must be round-robin, range or static, not '{other}' \
                 (embedders pass their own PartitionAssignor to Config::builder().assignor)"
            ))),
        }
    }

    /// `assignment.static`: `partition:worker` pairs separated by commas.
    pub(crate) fn parse_static(text: &str) -> Result<Vec<(usize, usize)>> {
        let pairs: Vec<(usize, usize)> = text
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|pair| {
                let (p, w) = pair.split_once(':').ok_or_else(|| {
                    Error::Config(format!(
                        "assignment.static lists partition:worker pairs, not '{}'",
                        pair.trim()
                    ))
                })?;
                let num = |s: &str| {
                    s.trim().parse::<usize>().map_err(|_| {
                        Error::Config(format!(
                            "'{}' in assignment.static is not a number",
                            s.trim()
                        ))
                    })
                };
                Ok((num(p)?, num(w)?))
            })
            .collect::<Result<_>>()?;
        for (i, (p, _)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(q, _)| q == p) {
                return Err(Error::Config(format!(
                    "assignment.static lists partition {p} twice"
                )));
            }
        }
        Ok(pairs)
    }

    /// The worker of each partition; checks what a custom assignor returns.
    pub(crate) fn assign(&self, partitions: usize, workers: usize) -> Result<Vec<usize>> {
        let workers = workers.max(1);
        let owners: Vec<usize> = match self {
            Strategy::RoundRobin => (0..partitions).map(|p| p % workers).collect(),
            Strategy::Range => {
                let per = partitions.div_ceil(workers).max(1);
                (0..partitions).map(|p| p / per).collect()
            }
            Strategy::Static(map) => (0..partitions)
                .map(|p| {
                    map.iter()
                        .find(|(part, w)| *part == p && *w < workers)
                        .map(|(_, w)| *w)
                        .unwrap_or(p % workers)
                })
                .collect(),
            Strategy::Custom(a) => a.assign(partitions, workers),
        };
        if owners.len() != partitions {
            return Err(Error::Config(format!(
                "assignor {} gave {} owners for {partitions} partitions",
                self.name(),
                owners.len()
            )));
        }
        if let Some((p, w)) = owners.iter().enumerate().find(|(_, w)| **w >= workers) {
            return Err(Error::Config(format!(
                "assignor {} gave partition {p} to worker {w}, but there are {workers} workers",
                self.name()
            )));
        }
        Ok(owners)
    }
}

/// Workers and strategy, shared by a session and its running queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkerPlan {
    pub(crate) workers: usize,
    pub(crate) strategy: Strategy,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_strategies() {
        assert_eq!(Strategy::RoundRobin.assign(5, 2).unwrap(), [0, 1, 0, 1, 0]);
        assert_eq!(Strategy::Range.assign(5, 2).unwrap(), [0, 0, 0, 1, 1]);
        let map = Strategy::parse_static("0:1, 1:1, 4:0").unwrap();
        assert_eq!(Strategy::Static(map).assign(5, 2).unwrap(), [1, 1, 0, 1, 0]);
        assert!(Strategy::parse_static("0-1").is_err());
        assert!(Strategy::parse("sticky", &[]).is_err());
    }

    #[derive(Debug)]
    struct Broken;

    impl PartitionAssignor for Broken {
        fn name(&self) -> &str {
            "broken"
        }
        fn assign(&self, partitions: usize, _workers: usize) -> Vec<usize> {
            vec![7; partitions]
        }
    }

    #[test]
    fn a_custom_assignor_is_checked() {
        let err = Strategy::Custom(Arc::new(Broken)).assign(2, 2).unwrap_err();
        assert!(err.to_string().contains("worker 7"), "{err}");
    }
}
