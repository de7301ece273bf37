//! The catalog: what each stream is (columns, key, partitions) and where its records come from.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use weir_parser::{
    closest_match, CreateSource, KeyKind, Name, OptionValue, SourceKind, SqlType, WithOptions,
};

use crate::columns::{hidden_fields, tombstone_field, RESERVED};
use crate::error::{PlanError, Result};
use crate::types::arrow_type;

/// How records of a file or stdin are encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line; fields match columns case-insensitively.
    Json,
    /// One bare JSON value per line: the stream's single value column
    /// (`WRAP_SINGLE_VALUE=false`).
    JsonValue,
    /// Delimited text (CSV), columns by position.
    Delimited {
        /// The field separator.
        delimiter: u8,
        /// Whether the first line is a header to skip.
        header: bool,
    },
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Format::Json => f.write_str("JSON"),
            Format::JsonValue => f.write_str("JSON (unwrapped single value)"),
            Format::Delimited { delimiter, header } => {
                write!(f, "DELIMITED (delimiter {:?}", *delimiter as char)?;
                if *header {
                    f.write_str(", header")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// Where a stream's records come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// A file, or every file matching a glob, read to its end.
    File {
        /// The path or glob as written.
        path: String,
        /// Record encoding.
        format: Format,
    },
    /// Standard input, read to end of input.
    Stdin {
        /// Record encoding.
        format: Format,
    },
    /// An in-memory log, written by `INSERT`, by a persistent query or by an embedding program.
    Memory,
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::File { path, format } => write!(f, "file '{path}' {format}"),
            SourceSpec::Stdin { format } => write!(f, "stdin {format}"),
            SourceSpec::Memory => f.write_str("in-memory log"),
        }
    }
}

/// How event time is read from a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampSpec {
    /// Index of the column in [`StreamDef::columns`].
    pub column: usize,
    /// Java-style pattern for string timestamps (`TIMESTAMP_FORMAT`).
    pub format: Option<String>,
}

/// A stream known to the catalog.
#[derive(Debug, Clone)]
pub struct StreamDef {
    /// Normalised name.
    pub name: String,
    /// Stream or table.
    pub kind: SourceKind,
    /// The declared (visible) columns.
    pub columns: SchemaRef,
    /// Indices of key columns in `columns`.
    pub key_columns: Vec<usize>,
    /// Number of partitions.
    pub partitions: usize,
    /// Where records come from.
    pub source: SourceSpec,
    /// Event time, when declared.
    pub timestamp: Option<TimestampSpec>,
    /// Where the stream is also written to, for streams created by a query with `PATH`.
    pub sink: Option<SourceSpec>,
    /// Read-only (`CREATE SOURCE STREAM`).
    pub read_only: bool,
    /// The Kafka topic named by `KAFKA_TOPIC`, when given.
    pub topic: Option<String>,
    /// How its records are encoded (`VALUE_FORMAT`), whatever holds them.
    pub format: Format,
    /// A windowed source (`WINDOW_TYPE`): `TUMBLING`, `HOPPING` or `SESSION`. Its records
    /// carry their window in the `WINDOWSTART` and `WINDOWEND` columns.
    pub windowed: Option<String>,
    /// How a Kafka record's key is encoded (`KEY_FORMAT`, or `FORMAT`): `KAFKA` (the
    /// default), `JSON`, `DELIMITED` or `NONE`. Records Weir holds keep their key columns as
    /// columns; this says how they travel as a Kafka key.
    pub key_format: String,
    /// `UNKNOWN_FIELDS='col'`: a STRING column that receives, as a JSON object, the fields a
    /// JSON record has beyond the declared columns (NULL when it has none).
    pub unknown_fields: Option<usize>,
}

impl StreamDef {
    /// This stream with value columns added at the end (`ALTER STREAM ... ADD COLUMN`).
    /// Rows written before read the new columns as NULL.
    pub fn with_added_columns(&self, added: &[weir_parser::ColumnDef]) -> Result<StreamDef> {
        let mut fields: Vec<Field> = self
            .columns
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        for c in added {
            if RESERVED.contains(&c.name.value.as_str()) {
                return Err(PlanError::invalid(
                    format!(
                        "'{}' is a reserved column name. You cannot use it as a name for a column.",
                        c.name
                    ),
                    c.name.position,
                ));
            }
            if fields.iter().any(|f| f.name() == &c.name.value) {
                return Err(PlanError::invalid(
                    format!(
                        "Cannot add column `{}` to schema. A column with the same name already exists.",
                        c.name.value
                    ),
                    c.name.position,
                ));
            }
            // (Custom types are resolved first: see [`Catalog::resolve_columns`].)
            let t = resolve_type(&BTreeMap::new(), &c.data_type)
                .map_err(|m| PlanError::invalid(m, c.name.position))?;
            fields.push(Field::new(&c.name.value, arrow_type(&t), true));
        }
        let mut def = self.clone();
        def.columns = Arc::new(Schema::new(fields));
        Ok(def)
    }

    /// Columns as records are stored: the declared columns, then `ROWTIME`, `ROWOFFSET` and
    /// `ROWDELETED` (a table's tombstones, a stream's null-value records).
    pub fn stored_schema(&self) -> SchemaRef {
        let mut fields: Vec<Arc<Field>> = self.columns.fields().iter().cloned().collect();
        fields.extend(hidden_fields());
        fields.push(tombstone_field());
        Arc::new(Schema::new(fields))
    }

    /// Columns as a query reads them: the stored ones, then `ROWPARTITION` (the partition a
    /// record is read from, added by the reader).
    pub fn physical_schema(&self) -> SchemaRef {
        let stored = self.stored_schema();
        let mut fields: Vec<Arc<Field>> = stored.fields().iter().cloned().collect();
        fields.push(crate::columns::partition_field());
        Arc::new(Schema::new(fields))
    }

    /// Names of the key columns.
    pub fn key_names(&self) -> Vec<String> {
        self.key_columns
            .iter()
            .map(|&i| self.columns.field(i).name().clone())
            .collect()
    }

    /// The partitioning records of this stream have.
    pub fn partitioning(&self) -> crate::Partitioning {
        if self.key_columns.is_empty() {
            crate::Partitioning::Unkeyed {
                partitions: self.partitions,
            }
        } else {
            crate::Partitioning::Hash {
                keys: self.key_names(),
                partitions: self.partitions,
            }
        }
    }

    /// Builds the definition a `CREATE STREAM ... (cols) WITH (...)` statement describes.
    pub fn from_create(create: &CreateSource) -> Result<Self> {
        // The WITH clause is checked first: a bad property is the first thing to fix.
        let props = Properties::new(&create.with, SOURCE_PROPERTIES)?;
        props.format()?;
        if create.columns.is_empty() {
            return Err(PlanError::invalid(
                format!("stream {} declares no columns", create.name),
                create.name.position,
            )
            .with_suggestion(Some(
                "list the columns: CREATE STREAM s (id INT KEY, v DOUBLE) WITH (...)".into(),
            )));
        }
        let mut fields = Vec::with_capacity(create.columns.len());
        let mut key_columns = Vec::new();
        for (i, c) in create.columns.iter().enumerate() {
            if RESERVED.contains(&c.name.value.as_str()) {
                return Err(PlanError::invalid(
                    format!(
                        "'{}' is a reserved column name. You cannot use it as a name for a column.",
                        c.name
                    ),
                    c.name.position,
                ));
            }
            if fields.iter().any(|f: &Field| f.name() == &c.name.value) {
                return Err(PlanError::invalid(
                    format!("column {} is declared twice", c.name),
                    c.name.position,
                ));
            }
            match (c.key, create.kind) {
                (KeyKind::PrimaryKey, SourceKind::Stream) => {
                    return Err(PlanError::invalid(
                        "Column `".to_string() + &c.name.value + "` is a 'PRIMARY KEY' column: please use 'KEY' for streams.\nTables have PRIMARY KEYs, which are unique and NON NULL.\nStreams have KEYs, which have no uniqueness or NON NULL constraints.",
                        c.name.position,
                    ))
                }
                (KeyKind::Key, SourceKind::Table) => {
                    return Err(PlanError::invalid(
                        "Column `".to_string() + &c.name.value + "` is a 'KEY' column: please use 'PRIMARY KEY' for tables.\nTables have PRIMARY KEYs, which are unique and NON NULL.\nStreams have KEYs, which have no uniqueness or NON NULL constraints.",
                        c.name.position,
                    ))
                }
                (KeyKind::None, _) => {}
                _ => key_columns.push(i),
            }
            // (Custom types are resolved first: see [`Catalog::resolve_columns`].)
            let t = resolve_type(&BTreeMap::new(), &c.data_type)
                .map_err(|m| PlanError::invalid(m, c.name.position))?;
            fields.push(Field::new(&c.name.value, arrow_type(&t), true));
        }
        if create.kind == SourceKind::Table && key_columns.is_empty() {
            return Err(PlanError::invalid(
                "Tables require a PRIMARY KEY. Please define the PRIMARY KEY.",
                create.name.position,
            ));
        }
        // A windowed source's records carry their window, as two more columns.
        let windowed = window_type(&props)?;
        if windowed.is_some() {
            for bound in [crate::columns::WINDOWSTART, crate::columns::WINDOWEND] {
                fields.push(Field::new(bound, DataType::Int64, true));
            }
        }
        let columns = Arc::new(Schema::new(fields));
        let format = props.format()?;
        check_unwrapped(&format, &props, columns.fields().len() - key_columns.len())?;
        check_map_keys(&columns, &key_columns)?;
        check_delimited(&format, &columns, &props)?;
        check_json_maps(&format, &columns)?;
        let key_format = props.key_format("KAFKA")?;
        check_key_format(&key_format, &columns, &key_columns)?;
        let format_of_values = format.clone();
        let source = match props.text("PATH") {
            Some("-") => SourceSpec::Stdin { format },
            Some(path) => SourceSpec::File {
                path: path.to_string(),
                format,
            },
            None => SourceSpec::Memory,
        };
        let partitions = props.partitions()?.unwrap_or(1);
        let timestamp = timestamp_spec(&props, &columns)?;
        let unknown_fields = match props.get("UNKNOWN_FIELDS") {
            None => None,
            Some(opt) => {
                let wanted = props
                    .text("UNKNOWN_FIELDS")
                    .unwrap_or_default()
                    .to_uppercase();
                let found = columns
                    .fields()
                    .iter()
                    .position(|f| f.name().eq_ignore_ascii_case(&wanted))
                    .filter(|i| {
                        !key_columns.contains(i) && columns.field(*i).data_type() == &DataType::Utf8
                    });
                if found.is_none()
                    || format_of_values != Format::Json
                    || source == SourceSpec::Memory
                {
                    return Err(PlanError::invalid(
                        format!(
                            "UNKNOWN_FIELDS='{wanted}' must name a declared STRING value column of a JSON stream read from a PATH"
                        ),
                        opt.position,
                    )
                    .with_suggestion(Some(format!(
                        "declare it: CREATE STREAM s (..., {wanted} STRING) WITH (VALUE_FORMAT='JSON', UNKNOWN_FIELDS='{wanted}')"
                    ))));
                }
                found
            }
        };
        Ok(StreamDef {
            name: create.name.value.clone(),
            kind: create.kind,
            columns,
            key_columns,
            partitions,
            source,
            timestamp,
            sink: None,
            read_only: create.read_only,
            topic: props.text("KAFKA_TOPIC").map(str::to_string),
            format: format_of_values,
            windowed,
            key_format,
            unknown_fields,
        })
    }
}

/// `WINDOW_TYPE` (and `WINDOW_SIZE`) of a windowed source, validated as ksqlDB does.
fn window_type(props: &Properties<'_>) -> Result<Option<String>> {
    let size = props.get("WINDOW_SIZE");
    let Some(opt) = props.get("WINDOW_TYPE") else {
        if let Some(size) = size {
            return Err(PlanError::invalid(
                "'WINDOW_SIZE' should only be set with 'WINDOW_TYPE'",
                size.position,
            ));
        }
        return Ok(None);
    };
    let kind = opt.value.as_text().to_uppercase();
    if !["TUMBLING", "HOPPING", "SESSION"].contains(&kind.as_str()) {
        return Err(PlanError::invalid(
            format!("Unknown WINDOW_TYPE '{kind}': expected SESSION, HOPPING or TUMBLING"),
            opt.position,
        ));
    }
    match (kind.as_str(), size) {
        ("SESSION", Some(size)) => Err(PlanError::invalid(
            "'WINDOW_SIZE' should not be set for SESSION windows.",
            size.position,
        )),
        ("SESSION", None) => Ok(Some(kind)),
        (_, None) => Err(PlanError::invalid(
            "Tumbling and Hopping window types should set WINDOW_SIZE in the WITH clause.",
            opt.position,
        )),
        (_, Some(size)) => {
            let text = size.value.as_text();
            let mut words = text.split_whitespace();
            let (n, unit) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            let unit_ok = matches!(
                unit.to_uppercase().trim_end_matches('S'),
                "MILLISECOND" | "SECOND" | "MINUTE" | "HOUR" | "DAY"
            );
            if n.parse::<i64>().is_err() || !unit_ok || words.next().is_some() {
                return Err(PlanError::invalid(
                    format!(
                        "Configuration WINDOW_SIZE is invalid: Invalid duration: '{text}'. Unknown time unit: '{}'",
                        unit.to_uppercase()
                    ),
                    size.position,
                ));
            }
            Ok(Some(kind))
        }
    }
}

/// The `TIMESTAMP` (and `TIMESTAMP_FORMAT`) property: which column holds event time.
pub(crate) fn timestamp_spec(
    props: &Properties<'_>,
    columns: &Schema,
) -> Result<Option<TimestampSpec>> {
    Ok(match props.get("TIMESTAMP") {
        None => None,
        Some(opt) => {
            let name = opt.value.as_text().to_uppercase();
            let column = columns.index_of(&name).map_err(|_| {
                PlanError::invalid(
                    format!("TIMESTAMP column '{name}' is not a column of the stream"),
                    opt.position,
                )
                .with_suggestion(
                    closest_match(&name, columns.fields().iter().map(|f| f.name()))
                        .map(|s| format!("did you mean {s}?")),
                )
            })?;
            let format = props.text("TIMESTAMP_FORMAT").map(str::to_string);
            let ty = columns.field(column).data_type();
            let ok = matches!(
                (ty, &format),
                (DataType::Utf8, Some(_)) | (DataType::Int64 | DataType::Timestamp(_, _), None)
            );
            if !ok && format.is_some() {
                return Err(PlanError::invalid(
                    format!(
                        "TIMESTAMP_FORMAT applies to STRING columns; {name} is {}",
                        crate::types::sql_type_name(ty)
                    ),
                    props.get("TIMESTAMP_FORMAT").and_then(|o| o.position),
                ));
            }
            if !ok {
                return Err(PlanError::invalid(
                    format!(
                        "Timestamp column, `{name}`, should be LONG(INT64), TIMESTAMP, or a \
                         String with a timestamp_format specified (it is {})",
                        crate::types::sql_type_name(ty)
                    ),
                    opt.position,
                ));
            }
            Some(TimestampSpec { column, format })
        }
    })
}

/// DELIMITED values are flat: nested columns cannot be written or read as CSV fields.
/// JSON objects have text keys: a MAP in a JSON value must have STRING keys (at any depth).
pub(crate) fn check_json_maps(format: &Format, columns: &Schema) -> Result<()> {
    fn text_keys(t: &DataType) -> bool {
        match t {
            DataType::Map(entries, _) => match entries.data_type() {
                DataType::Struct(kv) if kv.len() == 2 => {
                    matches!(
                        kv[0].data_type(),
                        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null
                    ) && text_keys(kv[1].data_type())
                }
                _ => true,
            },
            DataType::List(item) | DataType::LargeList(item) => text_keys(item.data_type()),
            DataType::Struct(fields) => fields.iter().all(|f| text_keys(f.data_type())),
            _ => true,
        }
    }
    if !matches!(format, Format::Json | Format::JsonValue) {
        return Ok(());
    }
    match columns.fields().iter().find(|f| !text_keys(f.data_type())) {
        Some(f) => Err(PlanError::invalid(
            format!(
                "JSON only supports MAP types with STRING keys (column {})",
                f.name()
            ),
            None,
        )
        .with_suggestion(Some("declare the map as MAP<STRING, ...>".into()))),
        None => Ok(()),
    }
}

/// Maps make no keys: two equal maps may list their entries in different orders, so they
/// would hash (and partition) differently. Refused at any depth, as ksqlDB does.
pub(crate) fn check_map_keys(columns: &Schema, keys: &[usize]) -> Result<()> {
    fn has_map(t: &DataType) -> bool {
        match t {
            DataType::Map(..) => true,
            DataType::List(item) | DataType::LargeList(item) => has_map(item.data_type()),
            DataType::Struct(fields) => fields.iter().any(|f| has_map(f.data_type())),
            _ => false,
        }
    }
    for &k in keys {
        let f = columns.field(k);
        if has_map(f.data_type()) {
            return Err(PlanError::invalid(
                format!(
                    "Map keys, including types that contain maps, are not supported as they may \
                     lead to unexpected behavior due to inconsistent serialization. Key column \
                     name: `{}`. Column type: {}. See \
                     https://github.com/confluentinc/ksql/issues/6621 for more.",
                    f.name(),
                    crate::types::sql_type_name(f.data_type())
                ),
                None,
            ));
        }
    }
    Ok(())
}

/// Key formats limit the key: NONE means no key columns; KAFKA serialises one primitive
/// (INT, BIGINT, DOUBLE, STRING, BYTES or a temporal type), not BOOLEAN, DECIMAL or a nested type.
pub(crate) fn check_key_format(key_format: &str, columns: &Schema, keys: &[usize]) -> Result<()> {
    let listed = || {
        let keys: Vec<String> = keys
            .iter()
            .map(|&k| {
                let f = columns.field(k);
                format!(
                    "`{}` {} KEY",
                    f.name(),
                    crate::types::sql_type_name(f.data_type())
                )
            })
            .collect();
        keys.join(", ")
    };
    match key_format {
        "NONE" if !keys.is_empty() => Err(PlanError::invalid(
            format!(
                "The 'NONE' format can only be used when no columns are defined. Got: [{}]",
                listed()
            ),
            None,
        )),
        "KAFKA" => {
            let unsupported = keys.iter().find_map(|&k| {
                let kind = match columns.field(k).data_type() {
                    DataType::Boolean => "BOOLEAN",
                    DataType::Decimal128(..) | DataType::Decimal256(..) => "DECIMAL",
                    DataType::List(_) | DataType::LargeList(_) => "ARRAY",
                    DataType::Map(..) => "MAP",
                    DataType::Struct(_) => "STRUCT",
                    _ => return None,
                };
                Some(kind)
            });
            match unsupported {
                Some(kind) => Err(PlanError::invalid(
                    format!(
                        "Key format does not support schema.\nformat: KAFKA\nschema: [{}]\n\
                         reason: The 'KAFKA' format does not support type '{kind}'",
                        listed()
                    ),
                    None,
                )
                .with_suggestion(Some("use KEY_FORMAT='JSON' for this key".into()))),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

pub(crate) fn check_delimited(
    format: &Format,
    columns: &Schema,
    props: &Properties<'_>,
) -> Result<()> {
    if !matches!(format, Format::Delimited { .. }) {
        return Ok(());
    }
    for f in columns.fields() {
        let kind = match f.data_type() {
            DataType::List(_) | DataType::LargeList(_) => "ARRAY",
            DataType::Map(..) => "MAP",
            DataType::Struct(_) => "STRUCT",
            _ => continue,
        };
        return Err(PlanError::invalid(
            format!(
                "The 'DELIMITED' format does not support type '{kind}', column: `{}`",
                f.name()
            ),
            props
                .get("VALUE_FORMAT")
                .or_else(|| props.get("FORMAT"))
                .and_then(|o| o.position),
        )
        .with_suggestion(Some(
            "write nested values as JSON (VALUE_FORMAT='JSON'), or flatten them in the query"
                .into(),
        )));
    }
    Ok(())
}

/// `WRAP_SINGLE_VALUE=false` needs exactly one value column.
pub(crate) fn check_unwrapped(
    format: &Format,
    props: &Properties<'_>,
    values: usize,
) -> Result<()> {
    if *format == Format::JsonValue && values != 1 {
        return Err(PlanError::invalid(
            "'WRAP_SINGLE_VALUE' is only valid for single-field value schemas",
            props.get("WRAP_SINGLE_VALUE").and_then(|o| o.position),
        ));
    }
    Ok(())
}

/// Properties accepted on `CREATE STREAM ... WITH (...)`.
pub(crate) const SOURCE_PROPERTIES: &[&str] = &[
    "PATH",
    "VALUE_FORMAT",
    "FORMAT",
    "KEY_FORMAT",
    "VALUE_DELIMITER",
    "HEADER",
    "PARTITIONS",
    "TIMESTAMP",
    "TIMESTAMP_FORMAT",
    "KAFKA_TOPIC",
    "REPLICAS",
    "WRAP_SINGLE_VALUE",
    "WINDOW_TYPE",
    "WINDOW_SIZE",
    "UNKNOWN_FIELDS",
];

/// Properties accepted on `CREATE STREAM ... WITH (...) AS SELECT`.
pub(crate) const SINK_PROPERTIES: &[&str] = &[
    "PATH",
    "VALUE_FORMAT",
    "FORMAT",
    "KEY_FORMAT",
    "VALUE_DELIMITER",
    "HEADER",
    "PARTITIONS",
    "KAFKA_TOPIC",
    "REPLICAS",
    "WRAP_SINGLE_VALUE",
    "TIMESTAMP",
    "TIMESTAMP_FORMAT",
];

/// Validated access to `WITH` properties.
pub(crate) struct Properties<'a> {
    with: &'a WithOptions,
}

impl<'a> Properties<'a> {
    pub(crate) fn new(with: &'a WithOptions, allowed: &[&str]) -> Result<Self> {
        for opt in &with.0 {
            if !allowed.contains(&opt.key.as_str()) {
                return Err(PlanError::invalid(
                    format!("unknown property {}", opt.key),
                    opt.position,
                )
                .with_suggestion(Some(match closest_match(&opt.key, allowed) {
                    Some(s) => format!("did you mean {s}?"),
                    None => format!("properties here are {}", allowed.join(", ")),
                })));
            }
        }
        Ok(Self { with })
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'a weir_parser::WithOption> {
        self.with.get(key)
    }

    pub(crate) fn text(&self, key: &str) -> Option<&'a str> {
        self.get(key).map(|o| o.value.as_text())
    }

    pub(crate) fn partitions(&self) -> Result<Option<usize>> {
        let Some(opt) = self.get("PARTITIONS") else {
            return Ok(None);
        };
        match &opt.value {
            OptionValue::Number(n) | OptionValue::String(n) => match n.parse::<usize>() {
                Ok(p) if (1..=1024).contains(&p) => Ok(Some(p)),
                _ => Err(PlanError::invalid(
                    format!("PARTITIONS must be a whole number from 1 to 1024, not {n}"),
                    opt.position,
                )),
            },
            OptionValue::Word(w) => Err(PlanError::invalid(
                format!("PARTITIONS must be a number, not {w}"),
                opt.position,
            )),
        }
    }

    /// The key format: `KEY_FORMAT`, else `FORMAT`, else `default`.
    pub(crate) fn key_format(&self, default: &str) -> Result<String> {
        self.format()?;
        Ok(self
            .get("KEY_FORMAT")
            .or_else(|| self.get("FORMAT"))
            .map(|o| o.value.as_text().to_uppercase())
            .unwrap_or_else(|| default.to_string()))
    }

    pub(crate) fn format(&self) -> Result<Format> {
        // Keys of file records are fields of the record itself; KEY_FORMAT names how a Kafka
        // key is serialised and is checked, not used.
        if let Some(k) = self.get("KEY_FORMAT") {
            let name = k.value.as_text().to_uppercase();
            if !matches!(name.as_str(), "KAFKA" | "JSON" | "DELIMITED" | "NONE") {
                return Err(PlanError::invalid(
                    format!("unsupported key format '{name}'"),
                    k.position,
                )
                .with_suggestion(Some("KEY_FORMAT is KAFKA, JSON, DELIMITED or NONE".into())));
            }
        }
        let opt = self.get("VALUE_FORMAT").or_else(|| self.get("FORMAT"));
        let name = opt
            .map(|o| o.value.as_text().to_uppercase())
            .unwrap_or_else(|| "JSON".into());
        match name.as_str() {
            "JSON" if self.get("VALUE_DELIMITER").is_some() || self.get("HEADER").is_some() => {
                let o = self.get("VALUE_DELIMITER").or_else(|| self.get("HEADER"));
                Err(PlanError::invalid(
                    format!(
                        "{} applies to VALUE_FORMAT='DELIMITED', not JSON",
                        o.map(|o| o.key.as_str()).unwrap_or("VALUE_DELIMITER")
                    ),
                    o.and_then(|o| o.position),
                ))
            }
            "JSON" => match self.get("WRAP_SINGLE_VALUE") {
                None => Ok(Format::Json),
                Some(w) => match w.value.as_text().to_uppercase().as_str() {
                    "TRUE" => Ok(Format::Json),
                    "FALSE" => Ok(Format::JsonValue),
                    other => Err(PlanError::invalid(
                        format!("WRAP_SINGLE_VALUE must be true or false, not '{other}'"),
                        w.position,
                    )),
                },
            },
            "DELIMITED" | "CSV" => {
                let delimiter = match self.get("VALUE_DELIMITER") {
                    None => b',',
                    Some(d) => match d.value.as_text() {
                        "TAB" | "\t" => b'\t',
                        "SPACE" => b' ',
                        s if s.len() == 1 && s != " " => s.as_bytes()[0],
                        s => {
                            let why = if s.trim().is_empty() {
                                "Delimiter cannot be empty, if you meant to have a tab or space \
                                 for delimiter, please use the special values 'TAB' or 'SPACE'"
                                    .to_string()
                            } else {
                                format!(
                                    "Invalid delimiter value: '{s}'. Delimiter must be a single \
                                     character or TAB,SPACE"
                                )
                            };
                            return Err(PlanError::invalid(
                                format!(
                                    "Configuration VALUE_DELIMITER is invalid: {why}\n\
                                     Example valid value: ';'"
                                ),
                                d.position,
                            ));
                        }
                    },
                };
                let header = match self.get("HEADER") {
                    None => false,
                    Some(h) => match h.value.as_text().to_uppercase().as_str() {
                        "TRUE" => true,
                        "FALSE" => false,
                        other => {
                            return Err(PlanError::invalid(
                                format!("HEADER must be true or false, not '{other}'"),
                                h.position,
                            ))
                        }
                    },
                };
                Ok(Format::Delimited { delimiter, header })
            }
            other => {
                let pos = opt.and_then(|o| o.position);
                Err(
                    PlanError::invalid(format!("Unknown format: {other}"), pos).with_suggestion(
                        Some(match closest_match(other, ["JSON", "DELIMITED"]) {
                            Some(s) => format!("did you mean {s}?"),
                            None => "Weir reads JSON and DELIMITED values".into(),
                        }),
                    ),
                )
            }
        }
    }
}

/// All streams by name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    streams: BTreeMap<String, StreamDef>,
    /// Types registered with `CREATE TYPE`, by name (resolved: no custom type inside).
    types: BTreeMap<String, SqlType>,
}

/// The built-in type names, for suggestions.
const BUILTIN_TYPES: [&str; 15] = [
    "BOOLEAN",
    "INT",
    "INTEGER",
    "BIGINT",
    "DOUBLE",
    "DECIMAL",
    "STRING",
    "VARCHAR",
    "TIMESTAMP",
    "DATE",
    "TIME",
    "BYTES",
    "ARRAY",
    "MAP",
    "STRUCT",
];

/// `t` with every custom type (`CREATE TYPE`) replaced by what it stands for.
pub(crate) fn resolve_type(
    types: &BTreeMap<String, SqlType>,
    t: &SqlType,
) -> std::result::Result<SqlType, String> {
    Ok(match t {
        SqlType::Custom(name) => match types.get(name) {
            Some(t) => t.clone(),
            None => {
                let names = BUILTIN_TYPES
                    .iter()
                    .map(|s| s.to_string())
                    .chain(types.keys().cloned());
                let mut message = format!("Syntax error at or near '{name}': not a type");
                if let Some(close) = closest_match(name, names) {
                    message.push_str(&format!(" (did you mean {close}?)"));
                }
                return Err(message);
            }
        },
        SqlType::Array(inner) => SqlType::Array(Box::new(resolve_type(types, inner)?)),
        SqlType::Map(k, v) => SqlType::Map(
            Box::new(resolve_type(types, k)?),
            Box::new(resolve_type(types, v)?),
        ),
        SqlType::Struct(fields) => SqlType::Struct(
            fields
                .iter()
                .map(|(n, t)| Ok((n.clone(), resolve_type(types, t)?)))
                .collect::<std::result::Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

impl Catalog {
    /// Registers `CREATE TYPE name AS t`; returns what to tell the user.
    pub fn create_type(&mut self, name: &Name, t: &SqlType, if_not_exists: bool) -> Result<String> {
        if BUILTIN_TYPES.contains(&name.value.to_uppercase().as_str()) {
            return Err(PlanError::invalid(
                format!("Cannot register custom type '{name}': it is the name of a built-in type"),
                name.position,
            ));
        }
        let resolved = self.resolve_type(t, name.position)?;
        if let Some(existing) = self.types.get(&name.value) {
            if if_not_exists {
                return Ok(format!("Type {name} already exists"));
            }
            return Err(PlanError::invalid(
                format!(
                    "Cannot register custom type '{name}' since it is already registered with type: {existing}"
                ),
                name.position,
            )
            .with_suggestion(Some(format!("DROP TYPE {name} first"))));
        }
        self.types.insert(name.value.clone(), resolved);
        Ok(format!("Created type {name}"))
    }

    /// Forgets `DROP TYPE name` (columns declared with it keep their type).
    pub fn drop_type(&mut self, name: &Name, if_exists: bool) -> Result<String> {
        match self.types.remove(&name.value) {
            Some(_) => Ok(format!("Dropped type {name}")),
            None if if_exists => Ok(format!("Type {name} does not exist")),
            None => Err(PlanError::invalid(
                format!("Type {name} does not exist."),
                name.position,
            )),
        }
    }

    /// The types registered with `CREATE TYPE`, by name.
    pub fn types(&self) -> impl Iterator<Item = (&String, &SqlType)> {
        self.types.iter()
    }

    pub(crate) fn type_map(&self) -> BTreeMap<String, SqlType> {
        self.types.clone()
    }

    /// `t` with the custom types it names (`CREATE TYPE`) replaced by what they stand for.
    pub fn resolve_type(&self, t: &SqlType, at: Option<weir_parser::Position>) -> Result<SqlType> {
        resolve_type(&self.types, t).map_err(|m| PlanError::invalid(m, at))
    }

    /// Column definitions with their custom types resolved.
    pub fn resolve_columns(
        &self,
        columns: &[weir_parser::ColumnDef],
    ) -> Result<Vec<weir_parser::ColumnDef>> {
        columns
            .iter()
            .map(|c| {
                let mut c = c.clone();
                c.data_type = self.resolve_type(&c.data_type, c.name.position)?;
                Ok(c)
            })
            .collect()
    }

    /// An empty catalog.
    pub fn new() -> Self {
        Self::default()
    }

    /// The stream called `name` (exact, already normalised).
    pub fn get(&self, name: &str) -> Option<&StreamDef> {
        self.streams.get(name)
    }

    /// The stream `name`, or an error that suggests a close name.
    pub fn resolve(&self, name: &Name) -> Result<&StreamDef> {
        self.streams
            .get(&name.value)
            .ok_or_else(|| self.unknown(&name.value, name.position))
    }

    /// The stream an `INSERT` writes, or an error in ksqlDB's words (`values`: an
    /// `INSERT ... VALUES`).
    pub fn resolve_insert_target(&self, name: &Name, values: bool) -> Result<&StreamDef> {
        self.streams.get(&name.value).ok_or_else(|| {
            let message = if values {
                format!(
                    "Cannot insert values into an unknown stream/table: `{}`",
                    name.value
                )
            } else {
                format!("Source `{}` does not exist.", name.value)
            };
            self.unknown(&name.value, name.position).reworded(message)
        })
    }

    pub(crate) fn unknown(&self, name: &str, position: Option<weir_parser::Position>) -> PlanError {
        let upper = name.to_uppercase();
        let suggestion = if upper != name && self.streams.contains_key(&upper) {
            // A quoted name keeps its case; unquoted names are upper case.
            Some(format!(
                "did you mean {upper}? Hint: try removing double quotes from the source name."
            ))
        } else {
            closest_match(name, self.streams.keys()).map(|s| format!("did you mean {s}?"))
        };
        let suggestion = suggestion.or_else(|| {
            (self.streams.is_empty())
                .then(|| "no streams exist yet: create one with CREATE STREAM".to_string())
        });
        PlanError::invalid(format!("stream '{name}' does not exist"), position)
            .with_suggestion(suggestion)
    }

    /// Adds or replaces a stream.
    pub fn insert(&mut self, def: StreamDef) {
        self.streams.insert(def.name.clone(), def);
    }

    /// Removes a stream.
    pub fn remove(&mut self, name: &str) -> Option<StreamDef> {
        self.streams.remove(name)
    }

    /// All streams, by name.
    pub fn streams(&self) -> impl Iterator<Item = &StreamDef> {
        self.streams.values()
    }
}
