//! The planner's error type: who is at fault, where, and how to fix it.

use datafusion_common::{DataFusionError, SchemaError};
use weir_parser::{closest_match, ParseError, Position};

/// Result alias for planning.
pub type Result<T, E = PlanError> = std::result::Result<T, E>;

/// Why a statement could not be planned.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The SQL text is not valid syntax.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The SQL is well formed but wrong: unknown names, type errors, bad properties.
    #[error("{message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// Where, when known.
        position: Option<Position>,
        /// How to fix it, when known.
        suggestion: Option<String>,
    },
    /// Valid SQL that a streaming engine cannot run (or Weir cannot run yet).
    #[error("{message}")]
    Unsupported {
        /// What is not supported, and why.
        message: String,
        /// Where, when known.
        position: Option<Position>,
    },
    /// A bug in Weir: an invariant did not hold.
    #[error("internal error: {0}")]
    Internal(String),
}

impl PlanError {
    /// An error in the user's SQL.
    pub fn invalid(message: impl Into<String>, position: Option<Position>) -> Self {
        PlanError::Invalid {
            message: message.into(),
            position,
            suggestion: None,
        }
    }

    /// SQL that cannot run on a stream.
    pub fn unsupported(message: impl Into<String>, position: Option<Position>) -> Self {
        PlanError::Unsupported {
            message: message.into(),
            position,
        }
    }

    /// The same error (position, suggestion) with another message.
    pub(crate) fn reworded(mut self, new: String) -> Self {
        match &mut self {
            PlanError::Invalid { message, .. } | PlanError::Unsupported { message, .. } => {
                *message = new
            }
            _ => {}
        }
        self
    }

    /// Adds a suggestion to an [`PlanError::Invalid`] error.
    pub fn with_suggestion(mut self, hint: Option<String>) -> Self {
        if let PlanError::Invalid { suggestion, .. } = &mut self {
            *suggestion = hint;
        }
        self
    }

    /// Where the error is, when known.
    pub fn position(&self) -> Option<Position> {
        match self {
            PlanError::Parse(e) => e.position,
            PlanError::Invalid { position, .. } | PlanError::Unsupported { position, .. } => {
                *position
            }
            PlanError::Internal(_) => None,
        }
    }

    /// The suggestion, when there is one.
    pub fn suggestion(&self) -> Option<&str> {
        match self {
            PlanError::Parse(e) => e.suggestion.as_deref(),
            PlanError::Invalid { suggestion, .. } => suggestion.as_deref(),
            _ => None,
        }
    }

    /// Sets the position when the error has none yet.
    pub fn or_position(mut self, fallback: Option<Position>) -> Self {
        match &mut self {
            PlanError::Invalid { position, .. } | PlanError::Unsupported { position, .. }
                if position.is_none() =>
            {
                *position = fallback
            }
            _ => {}
        }
        self
    }

    /// Translates a DataFusion planning error, keeping its source span and turning
    /// "field not found" into a did-you-mean suggestion.
    pub(crate) fn from_datafusion(err: DataFusionError, fallback: Option<Position>) -> Self {
        let position = err
            .diagnostic()
            .and_then(|d| d.span)
            .filter(|s| s.start.line > 0)
            .map(|s| Position::new(s.start.line, s.start.column))
            .or(fallback);
        let root = err.find_root();
        match root {
            DataFusionError::SchemaError(schema_err, _) => match schema_err.as_ref() {
                SchemaError::FieldNotFound {
                    field,
                    valid_fields,
                } => {
                    let visible = valid_fields
                        .iter()
                        .map(|c| c.name.clone())
                        .filter(|n| !crate::columns::is_hidden(n));
                    let suggestion =
                        closest_match(&field.name, visible).map(|s| format!("did you mean {s}?"));
                    let name = match &field.relation {
                        Some(r) => format!("{r}.{}", field.name),
                        None => field.name.clone(),
                    };
                    PlanError::invalid(format!("column '{name}' cannot be resolved"), position)
                        .with_suggestion(suggestion)
                }
                SchemaError::AmbiguousReference { field } => PlanError::invalid(
                    format!("Column '{}' is ambiguous.", field.name),
                    position,
                )
                .with_suggestion(Some(format!(
                    "more than one source has {0}: qualify it with the source's name or alias (s.{0})",
                    field.name
                ))),
                other => PlanError::invalid(other.to_string(), position),
            },
            DataFusionError::NotImplemented(m) => PlanError::unsupported(tidy(m), position),
            DataFusionError::Plan(m)
                if m.contains("must appear in the GROUP BY clause")
                    || m.contains("could not be resolved from available columns") =>
            {
                PlanError::invalid(
                    format!(
                        "Non-aggregate SELECT expression(s) not part of GROUP BY: {}",
                        tidy(m)
                    ),
                    position,
                )
            }
            DataFusionError::Plan(m) => PlanError::invalid(tidy(m), position),
            DataFusionError::Internal(m) => PlanError::Internal(m.clone()),
            other => PlanError::invalid(tidy(&other.strip_backtrace()), position),
        }
    }
}

fn tidy(message: &str) -> String {
    // DataFusion's debug dumps of unsupported syntax are not for users.
    if let Some(rest) = message.split("Unsupported ast node in sqltorel: ").nth(1) {
        let what: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        return match what.as_str() {
            "RLike" => "REGEXP / RLIKE is not supported: use REGEXP_EXTRACT or LIKE".into(),
            "Subquery" | "InSubquery" | "Exists" => {
                "subqueries are not supported in stream queries: join instead".into()
            }
            _ => format!("{what} expressions are not supported"),
        };
    }
    if message.contains("Physical plan does not support logical expression AggregateFunction") {
        return "an aggregate can only appear in the SELECT list or HAVING of a GROUP BY query \
                (GROUP BY positions such as GROUP BY 1 are not supported: name the column)"
            .into();
    }
    if message.contains("Physical plan does not support logical expression") {
        let what: String = message
            .split("logical expression ")
            .nth(1)
            .unwrap_or("")
            .chars()
            .take_while(|c| c.is_alphanumeric())
            .collect();
        return format!("{what} is not supported here");
    }
    // A function's own argument check is the message; DataFusion's wrapping is noise.
    let message = match message.split_once("coercion failed with: ") {
        Some((_, inner)) => inner,
        None => message,
    };
    let message = match message.split_once(" No function matches the given name") {
        Some((head, _)) if head.starts_with("Function '") || head.contains("Function '") => head,
        _ => message,
    };
    let message = message
        .trim()
        .trim_start_matches("Execution error: ")
        .trim_start_matches("Error during planning: ");
    // `Function 'upper' requires String, but received Float64 (DataType: Float64).`
    if let Some((head, rest)) = message.split_once(" requires ") {
        if let (true, Some((wanted, got))) = (
            head.starts_with("Function '"),
            rest.split_once(", but received "),
        ) {
            let got = got.split(" (DataType").next().unwrap_or(got);
            return format!(
                "{head} does not accept parameters ({}): it takes {}",
                arrow_type_name(got),
                arrow_type_name(wanted)
            );
        }
    }
    // DataFusion's suggestion for an unknown function is any name, however far.
    if let Some((head, guess)) = message.split_once("\nDid you mean '") {
        if let (Some(name), Some(guess)) = (
            head.strip_prefix("Invalid function '")
                .and_then(|r| r.strip_suffix("'.")),
            guess.strip_suffix("'?"),
        ) {
            if weir_parser::closest_match(name, [guess]).is_none() {
                return head.to_string();
            }
        }
    }
    message.to_string()
}

/// The SQL name of an Arrow type DataFusion names in a message (`Float64`, `String`).
pub(crate) fn arrow_type_name(name: &str) -> String {
    match name.trim() {
        "String" | "Utf8" | "LargeUtf8" | "Utf8View" => "STRING".into(),
        "Float64" | "Float32" => "DOUBLE".into(),
        "Int64" => "BIGINT".into(),
        "Int32" | "Int16" | "Int8" => "INTEGER".into(),
        "Boolean" => "BOOLEAN".into(),
        "Binary" => "BYTES".into(),
        other => other.to_string(),
    }
}
