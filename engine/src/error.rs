//! Weir's error type. Variants say who is at fault: the SQL, the input data, the environment,
//! or Weir itself.

use std::fmt;

pub use weir_parser::Position;
use weir_planner::PlanError;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a [`Session`](crate::Session).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The SQL is wrong: syntax, unknown names, types, properties.
    #[error("{message}")]
    Sql {
        /// What is wrong.
        message: String,
        /// Where, relative to the text given to the session.
        position: Option<Position>,
        /// How to fix it, when known.
        suggestion: Option<String>,
    },
    /// Valid SQL that cannot run on a stream, or that Weir does not run yet.
    #[error("{message}")]
    Unsupported {
        /// What, and why.
        message: String,
        /// Where.
        position: Option<Position>,
    },
    /// A malformed input record stopped the query (`errors.policy` = `fail`).
    #[error("bad record at {location}: {reason}")]
    BadRecord {
        /// `file:line` of the record.
        location: String,
        /// Why it could not be read.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A session property or configuration value is invalid.
    #[error("{0}")]
    Config(String),
    /// Evaluating the query failed at run time.
    #[error("query failed: {0}")]
    Execution(String),
    /// The query was cancelled.
    #[error("query cancelled")]
    Cancelled,
    /// A bug in Weir.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Where in the SQL text the error is, when it is about the SQL.
    pub fn position(&self) -> Option<Position> {
        match self {
            Error::Sql { position, .. } | Error::Unsupported { position, .. } => *position,
            _ => None,
        }
    }

    /// A suggestion for fixing the error, when there is one.
    pub fn suggestion(&self) -> Option<&str> {
        match self {
            Error::Sql { suggestion, .. } => suggestion.as_deref(),
            _ => None,
        }
    }

    /// Whether the user's SQL (rather than data or environment) caused the error.
    pub fn is_sql_error(&self) -> bool {
        matches!(self, Error::Sql { .. } | Error::Unsupported { .. })
    }

    /// The message with `line:column`, the source line, a caret, and the suggestion — what a
    /// terminal user should see. `sql` is the text the session was given.
    pub fn render(&self, sql: &str) -> String {
        let mut text = weir_parser::render_excerpt(sql, self.position(), &self.to_string());
        if let Some(s) = self.suggestion() {
            text.push_str("\nhint: ");
            text.push_str(s);
        }
        text
    }

    pub(crate) fn io(context: impl fmt::Display, source: std::io::Error) -> Self {
        Error::Io {
            context: context.to_string(),
            source,
        }
    }

    pub(crate) fn sql(message: impl Into<String>, position: Option<Position>) -> Self {
        Error::Sql {
            message: message.into(),
            position,
            suggestion: None,
        }
    }
}

impl From<PlanError> for Error {
    fn from(e: PlanError) -> Self {
        let position = e.position();
        let suggestion = e.suggestion().map(str::to_string);
        match e {
            PlanError::Parse(p) => Error::Sql {
                message: p.message,
                position,
                suggestion,
            },
            PlanError::Invalid { message, .. } => Error::Sql {
                message,
                position,
                suggestion,
            },
            PlanError::Unsupported { message, .. } => Error::Unsupported { message, position },
            PlanError::Internal(m) => Error::Internal(m),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<weir_parser::ParseError> for Error {
    fn from(e: weir_parser::ParseError) -> Self {
        Error::from(PlanError::from(e))
    }
}

impl From<arrow::error::ArrowError> for Error {
    fn from(e: arrow::error::ArrowError) -> Self {
        Error::Execution(e.to_string())
    }
}

impl From<datafusion_common::DataFusionError> for Error {
    fn from(e: datafusion_common::DataFusionError) -> Self {
        Error::Execution(e.strip_backtrace())
    }
}
