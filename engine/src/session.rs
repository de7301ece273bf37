//! The session: catalog, running queries, and statement execution shared by the REPL, scripts
//! and embedding programs.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use arrow::array::{Array, ArrayRef, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use weir_parser::{Emit, Name, ShowKind, SourceKind, Statement, StatementKind, StreamQuery};
use weir_planner::columns::ROWTIME;
use weir_planner::{
    derived_stream, plan_query, sql_type_name, values_batch, Catalog, DataflowPlan, PlanOptions,
    SourceSpec, StreamDef,
};

use crate::assignment::WorkerPlan;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::query::Query;
use crate::runtime::log::Log;
use crate::runtime::route::{split_by_arrays, split_evenly};
use crate::runtime::runner::{FileSink, QueryControl, Run, Sink};
use crate::runtime::Pipeline;
use crate::sources::{dead_letter_columns, BadRecordHook, QueryStats, Scan, SourceContext};

/// Name of the stream that receives unreadable records under `errors.policy = 'dead-letter'`.
pub const DEAD_LETTERS: &str = "DEAD_LETTERS";

/// Stack of a query thread. Deeply nested input (JSON arrays inside arrays) and long
/// expression chains recurse; the space is reserved, not committed, until used.
const QUERY_STACK: usize = 512 << 20;

/// What executing one statement produced.
#[non_exhaustive]
pub enum Outcome {
    /// The statement changed the catalog or the session; a short confirmation.
    Done(String),
    /// A result table (`SHOW ...`).
    Table(RecordBatch),
    /// Text to show (`DESCRIBE`, `EXPLAIN`).
    Text(String),
    /// A running transient query.
    Query(Query),
}

struct PersistentQuery {
    sql: String,
    /// Its dataflow, as `EXPLAIN` prints it.
    explain: String,
    /// The partition counts of its operators (what workers are assigned).
    partition_counts: Vec<usize>,
    /// The streams it writes (several for a `SPLIT`).
    sinks: Vec<String>,
    sources: Vec<String>,
    control: Arc<QueryControl>,
    thread: Option<JoinHandle<()>>,
}

impl PersistentQuery {
    fn writes(&self, stream: &str) -> bool {
        self.sinks.iter().any(|s| s == stream)
    }
}

/// A Weir session: streams, running persistent queries, and settings.
///
/// ```
/// use weir::{Session, Config};
/// let mut session = Session::new(Config::default());
/// session.execute("CREATE STREAM s (id INT KEY, v DOUBLE);")?;
/// session.execute("INSERT INTO s (id, v) VALUES (1, 2.5), (2, 0.5);")?;
/// let rows: usize = session.query("SELECT id, v * 2 AS v2 FROM s WHERE v > 1;")?
///     .map(|b| b.map(|b| b.num_rows()))
///     .sum::<weir::Result<usize>>()?;
/// assert_eq!(rows, 1);
/// # Ok::<(), weir::Error>(())
/// ```
pub struct Session {
    config: Config,
    catalog: Catalog,
    logs: HashMap<String, Arc<Log>>,
    queries: BTreeMap<String, PersistentQuery>,
    next_query: u64,
    hook: Option<BadRecordHook>,
    /// Workers and assignment strategy, shared with running queries.
    workers: Arc<std::sync::RwLock<WorkerPlan>>,
}

impl Session {
    /// A new session with an empty catalog (plus the `DEAD_LETTERS` stream).
    pub fn new(config: Config) -> Self {
        let workers = Arc::new(std::sync::RwLock::new(WorkerPlan {
            workers: config.workers,
            strategy: config.strategy.clone(),
        }));
        let mut session = Self {
            workers,
            config,
            catalog: Catalog::new(),
            logs: HashMap::new(),
            queries: BTreeMap::new(),
            next_query: 1,
            hook: None,
        };
        let def = StreamDef {
            name: DEAD_LETTERS.to_string(),
            kind: SourceKind::Stream,
            columns: dead_letter_columns(),
            key_columns: Vec::new(),
            partitions: 1,
            source: SourceSpec::Memory,
            timestamp: None,
            sink: None,
            read_only: true,
            topic: None,
            format: weir_planner::Format::Json,
            windowed: None,
            key_format: "NONE".into(),
            unknown_fields: None,
        };
        session
            .logs
            .insert(def.name.clone(), Arc::new(Log::new(def.stored_schema(), 1)));
        session.catalog.insert(def);
        session
    }

    /// Running queries follow the session's worker count and assignment strategy.
    fn share_workers(&self) {
        let plan = WorkerPlan {
            workers: self.config.workers,
            strategy: self.config.strategy.clone(),
        };
        match self.workers.write() {
            Ok(mut w) => *w = plan,
            Err(poisoned) => *poisoned.into_inner() = plan,
        }
    }

    /// The session's current settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Calls `hook` for every unreadable input record, as it is found (e.g. to print a warning).
    pub fn on_bad_record(&mut self, hook: impl Fn(&crate::BadRecord) + Send + Sync + 'static) {
        self.hook = Some(Arc::new(hook));
    }

    /// Parses a script into statements without running them.
    pub fn parse(&self, sql: &str) -> Result<Vec<Statement>> {
        Ok(weir_parser::parse(sql)?)
    }

    /// Runs every statement of `sql` in order; transient queries run to completion and their
    /// batches are returned. Stops at the first error.
    pub fn execute(&mut self, sql: &str) -> Result<Vec<ExecuteResult>> {
        let mut results = Vec::new();
        for stmt in self.parse(sql)? {
            let outcome = self.execute_statement(&stmt)?;
            results.push(match outcome {
                Outcome::Query(q) => ExecuteResult::Rows(q.collect::<Result<Vec<_>>>()?),
                Outcome::Done(m) | Outcome::Text(m) => ExecuteResult::Message(m),
                Outcome::Table(t) => ExecuteResult::Rows(vec![t]),
            });
        }
        Ok(results)
    }

    /// Starts one transient query (`SELECT ...`).
    pub fn query(&mut self, sql: &str) -> Result<Query> {
        let mut stmts = self.parse(sql)?;
        match (stmts.len(), stmts.pop()) {
            (1, Some(stmt)) => match self.execute_statement(&stmt)? {
                Outcome::Query(q) => Ok(q),
                _ => Err(Error::sql("expected a SELECT query", Some(stmt.position))),
            },
            _ => Err(Error::sql("expected exactly one statement", None)),
        }
    }

    /// Appends record batches to an in-memory stream (declared without `PATH`). The batches
    /// must have the stream's declared columns; `ROWTIME` is set to now.
    pub fn push(&mut self, stream: &str, batch: RecordBatch) -> Result<()> {
        let def = self.stream_def(stream)?;
        if batch.schema().fields().len() != def.columns.fields().len()
            || batch
                .schema()
                .fields()
                .iter()
                .zip(def.columns.fields())
                .any(|(a, b)| a.data_type() != b.data_type())
        {
            return Err(Error::sql(
                format!(
                    "batch schema does not match the columns of {}: {:?}",
                    def.name, def.columns
                ),
                None,
            ));
        }
        let batch = RecordBatch::try_new(Arc::clone(&def.columns), batch.columns().to_vec())?;
        self.append_rows(&def, batch, None, false)
    }

    /// The definition of the stream an embedding program names (unquoted names upper-cased).
    fn stream_def(&self, stream: &str) -> Result<StreamDef> {
        Ok(self
            .catalog
            .resolve(&Name {
                value: normalize(stream),
                position: None,
            })?
            .clone())
    }

    /// Whether two in-memory streams hold the same records (declared over one
    /// `KAFKA_TOPIC`): a record inserted into one is read from both.
    pub fn shares_records(&self, a: &str, b: &str) -> bool {
        match (self.logs.get(a), self.logs.get(b)) {
            (Some(x), Some(y)) => Arc::ptr_eq(x, y),
            _ => false,
        }
    }

    /// What the catalog knows about a stream or table.
    pub fn stream_info(&self, name: &str) -> Option<StreamInfo> {
        let def = self.catalog.get(&normalize(name))?;
        Some(StreamInfo {
            name: def.name.clone(),
            is_table: def.kind == SourceKind::Table,
            schema: Arc::clone(&def.columns),
            key_columns: def.key_columns.clone(),
            topic: def.topic.clone().unwrap_or_else(|| def.name.clone()),
            delimiter: match def.format {
                weir_planner::Format::Delimited { delimiter, .. } => Some(delimiter),
                weir_planner::Format::Json | weir_planner::Format::JsonValue => None,
            },
            unwrapped: def.format == weir_planner::Format::JsonValue,
            key_format: def.key_format.clone(),
        })
    }

    /// Names of all streams and tables.
    pub fn stream_names(&self) -> Vec<String> {
        self.catalog.streams().map(|d| d.name.clone()).collect()
    }

    /// Appends one record, given as a JSON object, to an in-memory stream. Fields match
    /// columns case-insensitively; missing fields are NULL. `rowtime` (ms) defaults to now.
    pub fn insert_json(&mut self, stream: &str, json: &str, rowtime: Option<i64>) -> Result<()> {
        let def = self.stream_def(stream)?;
        let batch = json_row(&def, json)?;
        let rowtime = rowtime.map(|t| Arc::new(Int64Array::from(vec![t])) as ArrayRef);
        self.append_rows(&def, batch, rowtime, false)
    }

    /// Appends a record with a NULL value, its key given as a JSON object of the key columns
    /// (`{"ID": 5}`; `{}` on a keyless stream), as a Kafka record with a null value. To a table
    /// that is a tombstone: it deletes the key's row. To a stream it is a null-value record:
    /// projections pass it on (without a value), filters, aggregations and joins skip it.
    pub fn delete_json(&mut self, table: &str, key: &str, rowtime: Option<i64>) -> Result<()> {
        let def = self.stream_def(table)?;
        let batch = json_row(&def, key)?;
        if def.kind == SourceKind::Table
            && def
                .key_columns
                .iter()
                .any(|&k| batch.column(k).null_count() > 0)
        {
            return Err(Error::sql(
                format!("a tombstone for {} needs its key: {key}", def.name),
                None,
            ));
        }
        // Only the key of a tombstone counts (and the window of a windowed source's record).
        let windowed = |i: usize| {
            def.windowed.is_some()
                && matches!(
                    def.columns.field(i).name().as_str(),
                    "WINDOWSTART" | "WINDOWEND"
                )
        };
        let columns = batch
            .columns()
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if def.key_columns.contains(&i) || windowed(i) {
                    Arc::clone(c)
                } else {
                    arrow::array::new_null_array(c.data_type(), 1)
                }
            })
            .collect();
        let batch = RecordBatch::try_new(Arc::clone(&def.columns), columns)?;
        let rowtime = rowtime.map(|t| Arc::new(Int64Array::from(vec![t])) as ArrayRef);
        self.append_rows(&def, batch, rowtime, true)
    }
}

/// One record given as a JSON object, decoded to a stream's declared columns (names match
/// case-insensitively; missing fields are NULL).
fn json_row(def: &StreamDef, json: &str) -> Result<RecordBatch> {
    {
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| Error::sql(format!("invalid JSON record: {e}"), None))?;
        let serde_json::Value::Object(fields) = value else {
            return Err(Error::sql("a record must be a JSON object", None));
        };
        let mut renamed = serde_json::Map::new();
        for f in def.columns.fields() {
            let found = fields.get(f.name()).or_else(|| {
                fields
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(f.name()))
                    .map(|(_, v)| v)
            });
            if let Some(v) = found {
                renamed.insert(f.name().clone(), declared_spelling(v, f.data_type()));
            }
        }
        // BYTES travel as base64 text (at any depth): read as text, then converted.
        let read = arrow::datatypes::Schema::new(
            def.columns
                .fields()
                .iter()
                .map(|f| {
                    let sample: Vec<&serde_json::Value> =
                        renamed.get(f.name()).into_iter().collect();
                    arrow::datatypes::Field::new(
                        f.name(),
                        crate::sources::respell(f.data_type(), &sample),
                        true,
                    )
                })
                .collect::<Vec<_>>(),
        );
        let text = serde_json::Value::Object(renamed).to_string();
        let mut decoder = arrow::json::ReaderBuilder::new(Arc::new(read))
            .with_strict_mode(false)
            // A number or boolean read into a STRING column is its text (as ksqlDB reads it).
            .with_coerce_primitive(true)
            .build_decoder()?;
        decoder.decode(text.as_bytes())?;
        let batch = decoder
            .flush()?
            .ok_or_else(|| Error::Internal("a JSON record decoded to nothing".into()))?;
        let columns = batch
            .columns()
            .iter()
            .zip(def.columns.fields())
            .map(|(c, f)| crate::sources::conform(Arc::clone(c), f.data_type()))
            .collect::<Result<Vec<_>>>()?;
        Ok(RecordBatch::try_new(Arc::clone(&def.columns), columns)?)
    }
}

/// A JSON value whose objects read as STRUCTs spell their fields as declared (JSON fields
/// match STRUCT fields case-insensitively, at any depth); an object or array read into a
/// STRING is its JSON text.
fn declared_spelling(
    value: &serde_json::Value,
    t: &arrow::datatypes::DataType,
) -> serde_json::Value {
    use arrow::datatypes::DataType;
    use serde_json::Value;
    match (value, t) {
        // An object or array read into a STRING is its JSON text (as ksqlDB reads it).
        (Value::Object(_) | Value::Array(_), DataType::Utf8) => Value::String(value.to_string()),
        (Value::Object(obj), DataType::Struct(fields)) => Value::Object(
            obj.iter()
                .map(
                    |(k, v)| match fields.iter().find(|f| f.name().eq_ignore_ascii_case(k)) {
                        Some(f) => (f.name().clone(), declared_spelling(v, f.data_type())),
                        None => (k.clone(), v.clone()),
                    },
                )
                .collect(),
        ),
        (Value::Object(obj), DataType::Map(entries, _)) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => Value::Object(
                obj.iter()
                    .map(|(k, v)| (k.clone(), declared_spelling(v, kv[1].data_type())))
                    .collect(),
            ),
            _ => value.clone(),
        },
        (Value::Array(items), DataType::List(item) | DataType::LargeList(item)) => Value::Array(
            items
                .iter()
                .map(|v| declared_spelling(v, item.data_type()))
                .collect(),
        ),
        _ => value.clone(),
    }
}

impl Session {
    /// Appends one record whose value is DELIMITED text (the value columns in order) and whose
    /// key (a JSON scalar, or an object for several key columns) fills the key columns.
    pub fn insert_delimited(
        &mut self,
        stream: &str,
        key: Option<&str>,
        value: &str,
        rowtime: Option<i64>,
    ) -> Result<()> {
        let def = self.stream_def(stream)?;
        let delimiter = match def.format {
            weir_planner::Format::Delimited { delimiter, .. } => delimiter,
            weir_planner::Format::Json | weir_planner::Format::JsonValue => b',',
        };
        let value_idx: Vec<usize> = (0..def.columns.fields().len())
            .filter(|i| !def.key_columns.contains(i))
            .collect();
        let declared_values = Arc::new(def.columns.project(&value_idx)?);
        let value_schema = crate::sources::delimited_schema(&declared_values);
        let mut decoder = arrow::csv::ReaderBuilder::new(Arc::clone(&value_schema))
            .with_delimiter(delimiter)
            .with_header(false)
            .with_null_regex(regex::Regex::new("^$").map_err(|e| Error::Internal(e.to_string()))?)
            .build_decoder();
        let line = format!("{value}\n");
        decoder.decode(line.as_bytes())?;
        let decoded = decoder
            .flush()?
            .ok_or_else(|| Error::sql(format!("'{value}' is not a DELIMITED record"), None))?;
        let values = RecordBatch::try_new(
            Arc::clone(&declared_values),
            decoded
                .columns()
                .iter()
                .zip(declared_values.fields())
                .map(|(c, f)| crate::sources::conform(Arc::clone(c), f.data_type()))
                .collect::<Result<Vec<_>>>()?,
        )?;
        let key_schema = Arc::new(def.columns.project(&def.key_columns)?);
        let key_json = match (key, def.key_columns.as_slice()) {
            (None, _) | (_, []) => "{}".to_string(),
            (Some(k), [one]) => format!(
                "{{{}: {k}}}",
                serde_json::Value::from(def.columns.field(*one).name().as_str())
            ),
            (Some(k), _) => k.to_string(),
        };
        let mut kdec = arrow::json::ReaderBuilder::new(Arc::clone(&key_schema)).build_decoder()?;
        kdec.decode(key_json.as_bytes())?;
        let keys = kdec.flush()?.ok_or_else(|| {
            Error::sql(format!("'{key_json}' is not a key of {}", def.name), None)
        })?;
        let mut columns = Vec::with_capacity(def.columns.fields().len());
        for i in 0..def.columns.fields().len() {
            columns.push(match def.key_columns.iter().position(|&k| k == i) {
                Some(k) => Arc::clone(keys.column(k)),
                None => {
                    Arc::clone(values.column(value_idx.iter().position(|&v| v == i).unwrap_or(0)))
                }
            });
        }
        let batch = RecordBatch::try_new(Arc::clone(&def.columns), columns)?;
        let rowtime = rowtime.map(|t| Arc::new(Int64Array::from(vec![t])) as ArrayRef);
        self.append_rows(&def, batch, rowtime, false)
    }

    /// Marks an in-memory stream complete: push queries over it end once they have read it.
    pub fn close_stream(&mut self, stream: &str) -> Result<()> {
        let name = normalize(stream);
        let log = self
            .logs
            .get(&name)
            .ok_or_else(|| Error::sql(format!("'{name}' is not an in-memory stream"), None))?;
        log.seal();
        Ok(())
    }

    /// Whether a statement is a push query (`SELECT ... EMIT CHANGES|FINAL`), which follows
    /// its input until the input ends.
    pub fn is_push_query(stmt: &Statement) -> bool {
        matches!(&stmt.kind, StatementKind::Query(q) if q.emit.is_some())
    }

    /// Declares that no more records will be inserted from outside the running queries: every
    /// in-memory stream ends once its writing queries end, so push queries over them finish. A
    /// script runner calls this before a push query (nothing after it can insert earlier).
    pub fn end_external_input(&mut self) {
        for log in self.logs.values() {
            log.seal();
        }
    }

    /// Waits until every persistent query has processed every record available now
    /// (upstream queries first, so a chain of queries settles end to end; rows waiting in
    /// open windows stay there). Between inserts into different streams, this makes the
    /// order the records were inserted in the order they are processed in, as a test driver
    /// feeding one record at a time does.
    pub fn settle(&self) {
        let sinks: Vec<String> = self
            .queries
            .values()
            .flat_map(|q| q.sinks.clone())
            .collect();
        self.drain_upstream(&sinks);
    }

    /// Ends the session's input: seals every in-memory stream (nothing more will be inserted),
    /// waits until every persistent query has read all of its input, and stops them. Scripts
    /// call this at their end so derived streams and file sinks are complete.
    pub fn finish(&mut self) -> Result<()> {
        for log in self.logs.values() {
            log.seal();
        }
        let sinks: Vec<String> = self
            .queries
            .values()
            .flat_map(|q| q.sinks.clone())
            .collect();
        let mut order = self.upstream_order(&sinks);
        order.extend(
            self.queries
                .keys()
                .filter(|id| !order.contains(id))
                .cloned()
                .collect::<Vec<_>>(),
        );
        let mut first_error = None;
        for id in order {
            if let Some(q) = self.queries.get_mut(&id) {
                if let Some(t) = q.thread.take() {
                    let _ = t.join();
                }
            }
            if let Some(err) = self.stop_query(&id) {
                first_error.get_or_insert(Error::Execution(format!("query {id} failed: {err}")));
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Record counts of a persistent query, by id.
    pub fn query_stats(&self, id: &str) -> Option<QueryStats> {
        self.queries.get(id).map(|q| q.control.metrics.snapshot())
    }

    /// Runs one parsed statement.
    pub fn execute_statement(&mut self, stmt: &Statement) -> Result<Outcome> {
        self.run_statement(stmt).map_err(|e| match e {
            Error::Sql {
                message,
                position,
                suggestion,
            } => {
                let position = refine_position(stmt, &message).or(position);
                Error::Sql {
                    message,
                    position,
                    suggestion,
                }
            }
            other => other,
        })
    }

    fn run_statement(&mut self, stmt: &Statement) -> Result<Outcome> {
        match &stmt.kind {
            StatementKind::CreateSource(create) => {
                let mut create = create.clone();
                create.columns = self.catalog.resolve_columns(&create.columns)?;
                let create = &create;
                let def = StreamDef::from_create(create)?;
                // A read-only SOURCE is never replaced, nor does one replace another.
                let existing_source = self
                    .catalog
                    .get(&create.name.value)
                    .is_some_and(|d| d.read_only);
                if create.or_replace && (create.read_only || existing_source) {
                    let kind = create.kind.to_string().to_lowercase();
                    return Err(Error::sql(
                        format!(
                            "Cannot add {kind} '{}': CREATE OR REPLACE is not supported on source {kind}s.",
                            def.name
                        ),
                        create.name.position,
                    ));
                }
                if let Some(format) = def.timestamp.as_ref().and_then(|t| t.format.as_deref()) {
                    crate::sources::check_timestamp_format(format).map_err(|e| {
                        Error::sql(
                            e.to_string(),
                            create.with.get("TIMESTAMP_FORMAT").and_then(|o| o.position),
                        )
                    })?;
                }
                // CREATE OR REPLACE of an in-memory stream keeps its records: columns may be
                // added at the end (as ALTER adds them); anything else is refused.
                if let (true, Some(old)) = (create.or_replace, self.catalog.get(&def.name).cloned())
                {
                    if old.source == SourceSpec::Memory
                        && def.source == SourceSpec::Memory
                        && !old.read_only
                    {
                        let kept = old.columns.fields().len();
                        let prefix_same = def.columns.fields().len() >= kept
                            && old.columns.fields().iter().zip(def.columns.fields()).all(
                                |(a, b)| a.name() == b.name() && a.data_type() == b.data_type(),
                            );
                        let partitions_changed = create.with.get("PARTITIONS").is_some()
                            && def.partitions != old.partitions;
                        let topic_changed = topic_of(&old) != topic_of(&def);
                        if old.kind != def.kind
                            || old.key_columns != def.key_columns
                            || !prefix_same
                            || partitions_changed
                            || topic_changed
                        {
                            return Err(Error::Sql {
                                message: format!(
                                    "Cannot upgrade data source {}: its records are kept, so its {} must stay as they are; columns may only be added at the end",
                                    def.name,
                                    if old.kind != def.kind {
                                        "kind"
                                    } else if partitions_changed {
                                        "partitions"
                                    } else if topic_changed {
                                        "topic"
                                    } else {
                                        "key and columns"
                                    }
                                ),
                                position: create.name.position,
                                suggestion: Some(format!(
                                    "ALTER {} {} ADD COLUMN ..., or DROP it and create it anew",
                                    old.kind, old.name
                                )),
                            });
                        }
                        if let Some(log) = self.logs.get(&old.name) {
                            log.set_schema(def.stored_schema());
                        }
                        let added = def.columns.fields().len() - kept;
                        let mut def = def;
                        def.partitions = old.partitions;
                        let message = format!(
                            "Replaced {} {} (its records kept; {added} column{} added)",
                            def.kind.to_string().to_lowercase(),
                            def.name,
                            if added == 1 { "" } else { "s" }
                        );
                        self.catalog.insert(def);
                        return Ok(Outcome::Done(message));
                    }
                }
                if let Some(done) =
                    self.check_new_name(&create.name, create.if_not_exists, create.or_replace)?
                {
                    return Ok(done);
                }
                // A CSV header that does not match the columns is an error now, not at the
                // first query (when the file is already there).
                crate::sources::check_header_now(&def).map_err(|e| match e {
                    Error::Sql {
                        message,
                        suggestion,
                        ..
                    } => Error::Sql {
                        message,
                        position: create.with.get("PATH").and_then(|o| o.position),
                        suggestion,
                    },
                    other => other,
                })?;
                let mut def = def;
                let mut shared = None;
                if def.source == SourceSpec::Memory {
                    // A KAFKA_TOPIC another in-memory stream (or a query's result) already
                    // has: both read and write the same records, as in ksqlDB.
                    let log = match self.shared_topic(&def, create)? {
                        Some((other, log)) => {
                            def.partitions = log.partitions();
                            shared = Some(other);
                            log
                        }
                        None => Arc::new(Log::new(def.stored_schema(), def.partitions)),
                    };
                    self.logs.insert(def.name.clone(), log);
                }
                let msg = format!(
                    "Created {} {} ({}{})",
                    def.kind.to_string().to_lowercase(),
                    def.name,
                    def.source,
                    shared
                        .map(|o| format!(", sharing topic '{}' with {o}", topic_of(&def)))
                        .unwrap_or_default()
                );
                self.catalog.insert(def);
                Ok(Outcome::Done(msg))
            }
            StatementKind::CreateAs(create) => {
                if let Some(done) =
                    self.check_new_name(&create.name, create.if_not_exists, create.or_replace)?
                {
                    return Ok(done);
                }
                let output_partitions = match create.with.get("PARTITIONS") {
                    None => None,
                    Some(o) => match o.value.as_text().parse::<usize>() {
                        Ok(n) if (1..=1024).contains(&n) => Some(n),
                        _ => {
                            return Err(Error::sql(
                                format!(
                                    "PARTITIONS must be a whole number from 1 to 1024, not {}",
                                    o.value.as_text()
                                ),
                                o.position,
                            ))
                        }
                    },
                };
                let plan = self.plan(&create.query, &PlanOptions { output_partitions })?;
                if plan.limit.is_some() {
                    return Err(Error::sql(
                        "LIMIT is only allowed in transient queries",
                        Some(create.query.position),
                    ));
                }
                self.check_no_cycle(&create.name.value, &plan)?;
                let windowed_table = plan.sources().iter().any(|src| {
                    self.catalog
                        .get(src)
                        .is_some_and(|d| d.kind == SourceKind::Table && d.windowed.is_some())
                });
                if windowed_table {
                    return Err(Error::sql(
                        "KSQL does not support persistent queries on windowed tables.",
                        Some(create.query.position),
                    ));
                }
                match (create.kind, plan.changelog) {
                    (SourceKind::Stream, true) => {
                        return Err(Error::Sql {
                            message: "Invalid result type. Your SELECT query produces a TABLE. Please use CREATE TABLE AS SELECT statement instead.".into(),
                            position: create.name.position,
                            suggestion: Some(format!("CREATE TABLE {} AS SELECT ...", create.name)),
                        })
                    }
                    (SourceKind::Table, false) => {
                        return Err(Error::Sql {
                            message: "Invalid result type. Your SELECT query produces a STREAM. Please use CREATE STREAM AS SELECT statement instead.".into(),
                            position: create.name.position,
                            suggestion: Some("a table is built by a GROUP BY aggregation".into()),
                        })
                    }
                    _ => {}
                }
                if let Some(message) = plan.dropped_key_message(&create.name.value) {
                    return Err(Error::Sql {
                        message,
                        position: Some(create.query.position),
                        suggestion: None,
                    });
                }
                let mut def = derived_stream(&create.name, &plan, &create.with)?;
                // A query's result is a topic of its own: declared streams do not share it.
                if let Some(topic) = &def.topic {
                    if let Some(other) = self
                        .catalog
                        .streams()
                        .find(|o| o.name != def.name && topic_of(o) == *topic)
                    {
                        return Err(Error::Sql {
                            message: format!(
                                "KAFKA_TOPIC '{topic}' is already the topic of {} {}",
                                other.kind.to_string().to_lowercase(),
                                other.name
                            ),
                            position: create.with.get("KAFKA_TOPIC").and_then(|o| o.position),
                            suggestion: Some(format!(
                                "write into it with INSERT INTO {} SELECT ..., or give the result another topic",
                                other.name
                            )),
                        });
                    }
                }
                let aggregated = plan
                    .nodes
                    .iter()
                    .any(|n| matches!(n.op, weir_planner::Op::Aggregate(_)));
                if aggregated && def.key_columns.len() >= def.columns.fields().len() {
                    return Err(Error::sql(
                        "The projection contains no value columns.",
                        Some(create.query.position),
                    ));
                }
                // Without VALUE_FORMAT the new stream keeps its (first) source's format.
                if create.with.get("VALUE_FORMAT").is_none() && create.with.get("FORMAT").is_none()
                {
                    // (WRAP_SINGLE_VALUE is the new stream's own: JSON stays as the WITH says.)
                    if let Some(source) = plan.sources().first().and_then(|s| self.catalog.get(s)) {
                        if matches!(source.format, weir_planner::Format::Delimited { .. }) {
                            def.format = source.format.clone();
                        }
                    }
                }
                // Without KEY_FORMAT or FORMAT, the key is encoded as its source's is.
                if def.key_format.is_empty() {
                    def.key_format = plan
                        .sources()
                        .first()
                        .and_then(|s| self.catalog.get(s))
                        .map_or_else(|| "KAFKA".to_string(), |s| s.key_format.clone());
                    // A key where the source had none (a join's, a PARTITION BY's) is KAFKA's.
                    if def.key_format == "NONE" && !def.key_columns.is_empty() {
                        def.key_format = "KAFKA".into();
                    }
                }
                weir_planner::check_derived_format(&def, &create.with)?;
                if let Some(SourceSpec::File { path, .. }) = &def.sink {
                    self.check_sink_path(path, create.with.get("PATH").and_then(|o| o.position))?;
                }
                let replacing = self.replace_writer(&def, &plan, create)?;
                let log = match (&replacing, self.logs.get(&def.name)) {
                    (Some(_), Some(log)) => {
                        log.set_schema(def.stored_schema());
                        Arc::clone(log)
                    }
                    _ => {
                        let log = Arc::new(Log::new(def.stored_schema(), def.partitions));
                        log.seal_when_unwritten();
                        self.logs.insert(def.name.clone(), Arc::clone(&log));
                        log
                    }
                };
                // A windowed table keeps its windows for their RETENTION.
                if let Some(retention) = plan.nodes.iter().find_map(|n| match &n.op {
                    weir_planner::Op::Aggregate(a) => a.window.as_ref()?.retention_ms,
                    _ => None,
                }) {
                    log.set_retention(retention);
                }
                let mut sinks = vec![Sink::Log(Arc::clone(&log))];
                if let Some(SourceSpec::File { path, format }) = &def.sink {
                    let value_column = (0..def.columns.fields().len())
                        .find(|i| !def.key_columns.contains(i))
                        .unwrap_or(0);
                    sinks.push(Sink::File(
                        FileSink::create(path, format.clone(), plan.visible_columns)?
                            .with_value_column(value_column),
                    ));
                }
                let prefix = if create.kind == SourceKind::Table {
                    "CTAS"
                } else {
                    "CSAS"
                };
                let id = replacing
                    .clone()
                    .unwrap_or_else(|| format!("{prefix}_{}_{}", def.name, self.next_query));
                self.catalog.insert(def);
                let resume = replacing.is_some();
                let started = self.start_persistent(
                    &id,
                    stmt,
                    std::slice::from_ref(&create.name.value),
                    plan,
                    sinks,
                    vec![Arc::clone(&log)],
                    resume,
                );
                if resume {
                    // Release the hold `replace_writer` took.
                    log.remove_writer();
                }
                started?;
                let kind = if create.kind == SourceKind::Table {
                    "table"
                } else {
                    "stream"
                };
                Ok(Outcome::Done(if resume {
                    format!(
                        "Replaced the query writing {kind} {}; query {id} continues where it stopped",
                        create.name
                    )
                } else {
                    format!("Created {kind} {}; query {id} is running", create.name)
                }))
            }
            StatementKind::InsertSelect { target, query } => {
                let def = self.writable(target, false)?;
                let plan = self.plan(
                    query,
                    &PlanOptions {
                        output_partitions: Some(def.partitions),
                    },
                )?;
                let out = plan.visible_schema();
                if let Some(f) = out
                    .fields()
                    .iter()
                    .find(|f| weir_planner::columns::is_hidden(f.name()))
                {
                    return Err(Error::sql(
                        format!(
                            "Reserved column name in select: `{}`. Please remove or alias the column.",
                            f.name()
                        ),
                        Some(query.position),
                    ));
                }
                let compatible = out.fields().len() == def.columns.fields().len()
                    && out
                        .fields()
                        .iter()
                        .zip(def.columns.fields())
                        .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
                if !compatible {
                    let result_keys: Vec<usize> = match &plan.output().partitioning {
                        weir_planner::Partitioning::Hash { keys, .. } => {
                            keys.iter().filter_map(|k| out.index_of(k).ok()).collect()
                        }
                        weir_planner::Partitioning::Unkeyed { .. } => Vec::new(),
                    };
                    return Err(Error::Sql {
                        message: format!(
                            "Incompatible schema between results and sink {}.\nResult schema is {}\nSink schema is {}",
                            def.name,
                            ksql_schema(&out, &result_keys),
                            ksql_schema(&def.columns, &def.key_columns)
                        ),
                        position: Some(query.position),
                        suggestion: Some(
                            "select the sink's columns, in its order and with its types (CAST where they differ)".into(),
                        ),
                    });
                }
                if plan.limit.is_some() {
                    return Err(Error::sql(
                        "LIMIT is only allowed in transient queries",
                        Some(query.position),
                    ));
                }
                self.check_no_cycle(&def.name, &plan)?;
                let log = self.log_of(&def.name)?;
                let id = format!("INSERTQUERY_{}", self.next_query);
                let sink = Sink::KeyedLog {
                    log: Arc::clone(&log),
                    keys: def.key_columns.clone(),
                };
                self.start_persistent(
                    &id,
                    stmt,
                    std::slice::from_ref(&def.name),
                    plan,
                    vec![sink],
                    vec![log],
                    false,
                )?;
                Ok(Outcome::Done(format!(
                    "Inserting into {}; query {id} is running",
                    def.name
                )))
            }
            StatementKind::InsertValues {
                target,
                columns,
                rows,
            } => {
                let def = self.writable(target, true)?;
                let values = values_batch(&self.catalog, &def, columns, rows)?;
                let n = values.batch.num_rows();
                self.append_rows(&def, values.batch, values.rowtime, false)?;
                Ok(Outcome::Done(format!(
                    "Inserted {n} row{} into {}",
                    if n == 1 { "" } else { "s" },
                    def.name
                )))
            }
            StatementKind::Query(query) => self.start_transient(query).map(Outcome::Query),
            StatementKind::Drop {
                kind,
                name,
                if_exists,
                delete_topic,
            } => {
                let kind_name = |k: &SourceKind| match k {
                    SourceKind::Table => "Table",
                    SourceKind::Stream => "Stream",
                };
                if self.catalog.get(&name.value).is_none() {
                    if *if_exists {
                        return Ok(Outcome::Done(format!(
                            "{} {name} does not exist",
                            kind_name(kind)
                        )));
                    }
                    let kind = kind_name(kind);
                    let known: Vec<String> =
                        self.catalog.streams().map(|d| d.name.clone()).collect();
                    return Err(Error::Sql {
                        message: format!("{kind} {name} does not exist"),
                        position: name.position,
                        suggestion: weir_parser::closest_match(&name.value, &known)
                            .map(|s| format!("did you mean {s}?")),
                    });
                }
                let def = self.catalog.resolve(name)?.clone();
                if def.kind != *kind {
                    return Err(Error::Sql {
                        message: format!(
                            "Incompatible data source type is {}, but statement was DROP {}",
                            def.kind, kind
                        ),
                        position: name.position,
                        suggestion: Some(format!("DROP {} {}", def.kind, def.name)),
                    });
                }
                if *delete_topic && def.read_only {
                    return Err(Error::sql(
                        format!("Cannot delete topic for read-only source: {}", def.name),
                        name.position,
                    ));
                }
                if def.name == DEAD_LETTERS {
                    return Err(Error::sql(
                        "DEAD_LETTERS is built in and cannot be dropped",
                        name.position,
                    ));
                }
                if let Some((id, _)) = self
                    .queries
                    .iter()
                    .find(|(_, q)| q.writes(&def.name) || q.sources.contains(&def.name))
                {
                    return Err(Error::Sql {
                        message: format!(
                            "{} {} is used by query {id}",
                            def.kind.to_string().to_lowercase(),
                            def.name
                        ),
                        position: name.position,
                        suggestion: Some(format!("stop it first with TERMINATE {id}")),
                    });
                }
                self.catalog.remove(&def.name);
                self.logs.remove(&def.name);
                Ok(Outcome::Done(format!(
                    "Dropped {} {}",
                    def.kind.to_string().to_lowercase(),
                    def.name
                )))
            }
            StatementKind::Alter {
                name,
                columns,
                kind,
            } => {
                let def = self.catalog.resolve(name)?.clone();
                if def.read_only {
                    let kind = def.kind.to_string().to_lowercase();
                    return Err(Error::sql(
                        format!(
                            "Cannot alter {kind} '{}': ALTER operations are not supported on source {kind}s.",
                            def.name
                        ),
                        name.position,
                    ));
                }
                if def.kind != *kind {
                    return Err(Error::sql(
                        format!(
                            "{} is a {}, not a {}: use ALTER {} {}",
                            def.name,
                            def.kind.to_string().to_lowercase(),
                            kind.to_string().to_lowercase(),
                            def.kind,
                            def.name
                        ),
                        name.position,
                    ));
                }
                let derived =
                    def.sink.is_some() || self.queries.values().any(|q| q.writes(&def.name));
                if derived || def.name == DEAD_LETTERS {
                    return Err(Error::sql(
                        "ALTER command is not supported for CREATE ... AS statements (or \
                         built-in streams): change the query that writes it instead",
                        name.position,
                    ));
                }
                let altered = def.with_added_columns(&self.catalog.resolve_columns(columns)?)?;
                if let Some(log) = self.logs.get(&def.name) {
                    log.set_schema(altered.stored_schema());
                }
                let added: Vec<String> = columns.iter().map(|c| c.name.value.clone()).collect();
                self.catalog.insert(altered);
                Ok(Outcome::Done(format!(
                    "Altered {}: added {}",
                    def.name,
                    added.join(", ")
                )))
            }
            StatementKind::Split { source, branches } => self.split(stmt, source, branches),
            StatementKind::Show(kind) => self.show(*kind),
            StatementKind::Describe { name, extended } => {
                let def = self.catalog.resolve(name)?;
                Ok(Outcome::Text(self.describe(def, *extended)))
            }
            StatementKind::DescribeFunction(name) => describe_function(name).map(Outcome::Text),
            StatementKind::ExplainQuery(id) => match self.queries.get(&id.value) {
                Some(q) => Ok(Outcome::Text(format!(
                    "Query {}: {}\n{}",
                    id.value, q.sql, q.explain
                ))),
                None => Err(Error::Sql {
                    message: format!("no running query {}", id.value),
                    position: id.position,
                    suggestion: weir_parser::closest_match(&id.value, self.queries.keys())
                        .map(|s| format!("did you mean {s}?"))
                        .or_else(|| Some("SHOW QUERIES lists the running queries".into())),
                }),
            },
            StatementKind::Explain(inner) => {
                let plan = match &inner.kind {
                    StatementKind::Query(q) => self.plan(q, &PlanOptions::default())?,
                    StatementKind::CreateAs(c) => self.plan(&c.query, &PlanOptions::default())?,
                    StatementKind::Split { source, branches } => {
                        let (_, plan) = self.split_plan(inner, source, branches)?;
                        let names: Vec<String> = branches
                            .iter()
                            .enumerate()
                            .map(|(i, b)| format!("  {i}: {}", b.name.value))
                            .collect();
                        return Ok(Outcome::Text(format!(
                            "{}Branches (WEIR_BRANCH = n goes to the n-th stream; one scan feeds them all):\n{}\n",
                            plan.explain(),
                            names.join("\n")
                        )));
                    }
                    StatementKind::InsertSelect { query, target } => {
                        let def = self.catalog.resolve(target)?;
                        let partitions = def.partitions;
                        self.plan(query, &PlanOptions { output_partitions: Some(partitions) })?
                    }
                    _ => {
                        return Err(Error::sql(
                            "EXPLAIN takes a query: SELECT, CREATE STREAM ... AS SELECT or INSERT INTO ... SELECT",
                            Some(inner.position),
                        ))
                    }
                };
                Ok(Outcome::Text(plan.explain()))
            }
            StatementKind::Set { name, value } => {
                if let Some(done) = ignored_setting(name) {
                    return Ok(done);
                }
                self.config.set(name, value).map_err(|e| match e {
                    // (Said at the statement, with a hint of what is known.)
                    Error::Config(message) => Error::Sql {
                        suggestion: (message.contains("unknown property")
                            && !message.contains("did you mean"))
                        .then(|| {
                            let known: Vec<&str> =
                                crate::config::PROPERTIES.iter().map(|(n, _)| *n).collect();
                            match weir_parser::closest_match(name, known.iter()) {
                                Some(k) => format!("did you mean '{k}'?"),
                                None => format!("SHOW PROPERTIES lists them: {}", known.join(", ")),
                            }
                        }),
                        message,
                        position: Some(stmt.position),
                    },
                    other => other,
                })?;
                self.share_workers();
                Ok(Outcome::Done(format!("Property '{name}' set to '{value}'")))
            }
            StatementKind::Unset(name) => {
                if let Some(done) = ignored_setting(name) {
                    return Ok(done);
                }
                let default = Config::default();
                let value = default
                    .properties()
                    .get(name.to_ascii_lowercase().as_str())
                    .cloned()
                    .ok_or_else(|| Error::Config(format!("unknown property '{name}'")))?;
                self.config.set(name, &value)?;
                self.share_workers();
                Ok(Outcome::Done(format!(
                    "Property '{name}' reset to '{value}'"
                )))
            }
            StatementKind::CreateType {
                name,
                data_type,
                if_not_exists,
            } => Ok(Outcome::Done(self.catalog.create_type(
                name,
                data_type,
                *if_not_exists,
            )?)),
            StatementKind::DropType { name, if_exists } => {
                Ok(Outcome::Done(self.catalog.drop_type(name, *if_exists)?))
            }
            StatementKind::Terminate(target) => {
                let ids: Vec<String> = match target {
                    None => self.queries.keys().cloned().collect(),
                    Some(id) => {
                        if !self.queries.contains_key(id) {
                            return Err(Error::Sql {
                                message: format!("no running query {id}"),
                                position: Some(stmt.position),
                                suggestion: weir_parser::closest_match(id, self.queries.keys())
                                    .map(|s| format!("did you mean {s}?")),
                            });
                        }
                        vec![id.clone()]
                    }
                };
                for id in &ids {
                    self.stop_query(id);
                }
                Ok(Outcome::Done(format!(
                    "Terminated {}",
                    if ids.is_empty() {
                        "nothing".into()
                    } else {
                        ids.join(", ")
                    }
                )))
            }
            _ => Err(Error::Unsupported {
                message: "this statement is not supported".into(),
                position: Some(stmt.position),
            }),
        }
    }

    /// The query behind a `SPLIT`: every column of the source plus `WEIR_BRANCH`, the number
    /// of the first branch whose condition holds (NULL when none does and there is no default).
    fn split_plan(
        &self,
        stmt: &Statement,
        source: &Name,
        branches: &[weir_parser::SplitBranch],
    ) -> Result<(StreamDef, DataflowPlan)> {
        let def = self.catalog.resolve(source)?.clone();
        if def.kind != SourceKind::Stream {
            return Err(Error::sql(
                format!("SPLIT reads a stream; {} is a table", def.name),
                source.position,
            ));
        }
        let mut case = String::new();
        let mut default = None;
        for (i, b) in branches.iter().enumerate() {
            match &b.condition {
                Some(c) => {
                    // A condition must be a valid WHERE on the source (a boolean).
                    let check = format!("SELECT * FROM `{}` WHERE ({c});", def.name);
                    let parsed = weir_parser::parse(&check)?;
                    if let Some(StatementKind::Query(q)) = parsed.first().map(|s| &s.kind) {
                        self.plan(q, &PlanOptions::default())
                            .map_err(|e| Error::Sql {
                                message: format!("in the condition of branch {}: {e}", b.name),
                                position: b.name.position,
                                suggestion: None,
                            })?;
                    }
                    case.push_str(&format!(" WHEN ({c}) THEN {i}"));
                }
                None => default = Some(i),
            }
        }
        let branch = match (case.is_empty(), default) {
            (true, Some(d)) => d.to_string(),
            (true, None) => "NULL".to_string(),
            (false, Some(d)) => format!("CASE{case} ELSE {d} END"),
            (false, None) => format!("CASE{case} END"),
        };
        let sql = format!(
            "SELECT *, CAST({branch} AS INT) AS WEIR_BRANCH FROM `{}`;",
            def.name
        );
        let parsed = weir_parser::parse(&sql)?;
        let Some(StatementKind::Query(query)) = parsed.first().map(|s| &s.kind) else {
            return Err(Error::Internal("SPLIT did not plan as a query".into()));
        };
        let plan = self
            .plan(query, &PlanOptions::default())
            .map_err(|e| match e {
                // The positions are in the generated query: point at the statement instead.
                Error::Sql {
                    message,
                    suggestion,
                    ..
                } => Error::Sql {
                    message: format!("in a SPLIT condition: {message}"),
                    position: Some(stmt.position),
                    suggestion,
                },
                other => other,
            })?;
        Ok((def, plan))
    }

    /// `SPLIT source INTO a WHERE ... INTO b WHERE ... [INTO rest]`: one persistent query
    /// scans the source once and routes each row to the first branch whose condition holds.
    fn split(
        &mut self,
        stmt: &Statement,
        source: &Name,
        branches: &[weir_parser::SplitBranch],
    ) -> Result<Outcome> {
        for (i, b) in branches.iter().enumerate() {
            if let Some(o) = b.with.0.first() {
                return Err(Error::Sql {
                    message: "SPLIT branches are in-memory streams and take no WITH options".into(),
                    position: o.position,
                    suggestion: Some(format!(
                        "write a branch elsewhere with CREATE STREAM x WITH (...) AS SELECT * FROM {}",
                        b.name
                    )),
                });
            }
            if self.catalog.get(&b.name.value).is_some()
                || branches[..i].iter().any(|o| o.name.value == b.name.value)
            {
                return Err(Error::sql(
                    format!("stream {} already exists", b.name),
                    b.name.position,
                ));
            }
        }
        let (def, plan) = self.split_plan(stmt, source, branches)?;
        let visible = plan.visible_schema();
        let branch_column = plan.visible_columns.saturating_sub(1);
        let columns = Arc::new(Schema::new(visible.fields()[..branch_column].to_vec()));
        let partitions = plan.output().partitioning.partitions();
        let mut names = Vec::new();
        let mut sinks = Vec::new();
        let mut logs = Vec::new();
        for (i, b) in branches.iter().enumerate() {
            let branch_def = StreamDef {
                name: b.name.value.clone(),
                kind: SourceKind::Stream,
                columns: Arc::clone(&columns),
                key_columns: def.key_columns.clone(),
                partitions,
                source: SourceSpec::Memory,
                timestamp: None,
                sink: None,
                read_only: false,
                topic: None,
                format: def.format.clone(),
                windowed: None,
                key_format: def.key_format.clone(),
                unknown_fields: None,
            };
            let log = Arc::new(Log::new(branch_def.stored_schema(), partitions));
            log.seal_when_unwritten();
            self.logs.insert(branch_def.name.clone(), Arc::clone(&log));
            sinks.push(Sink::Branch {
                log: Arc::clone(&log),
                column: branch_column,
                branch: i as i32,
            });
            logs.push(log);
            names.push(branch_def.name.clone());
            self.catalog.insert(branch_def);
        }
        let id = format!("SPLIT_{}_{}", def.name, self.next_query);
        self.start_persistent(&id, stmt, &names, plan, sinks, logs, false)?;
        Ok(Outcome::Done(format!(
            "Split {} into {}; query {id} is running",
            def.name,
            names.join(", ")
        )))
    }

    /// `CREATE OR REPLACE ... AS SELECT` over a stream a running query writes: checks the
    /// new schema can replace the old one (ksqlDB's upgrade rules: the old columns keep their
    /// names, types and order, new ones come after; same key and partitions), waits until the
    /// old query has processed everything its sources hold, and stops it. Returns its id; the
    /// new query then starts at the sources' current end, so no record is processed twice or
    /// skipped, and queries reading the stream keep running.
    fn replace_writer(
        &mut self,
        def: &StreamDef,
        plan: &DataflowPlan,
        create: &weir_parser::CreateAs,
    ) -> Result<Option<String>> {
        if !create.or_replace {
            return Ok(None);
        }
        let Some(id) = self
            .queries
            .iter()
            .find(|(_, q)| q.writes(&def.name))
            .map(|(id, _)| id.clone())
        else {
            return Ok(None);
        };
        let Some(old) = self.catalog.get(&def.name) else {
            return Ok(None);
        };
        let incompatible = |why: String| {
            Error::Sql {
            message: format!(
                "Cannot upgrade data source {}: the new schema is not upgrade compatible: {why}",
                def.name
            ),
            position: create.name.position,
            suggestion: Some(
                "keep the existing columns (same names, types and order) and add new ones at the end"
                    .into(),
            ),
        }
        };
        let (old_cols, new_cols) = (old.columns.fields(), def.columns.fields());
        for (i, f) in old_cols.iter().enumerate() {
            match new_cols.get(i) {
                None => return Err(incompatible(format!("column {} is missing", f.name()))),
                Some(n) if n.name() != f.name() => {
                    return Err(incompatible(format!(
                        "column {} became {}",
                        f.name(),
                        n.name()
                    )))
                }
                Some(n) if n.data_type() != f.data_type() => {
                    return Err(incompatible(format!(
                        "column {} changed type from {} to {}",
                        f.name(),
                        weir_planner::sql_type_name(f.data_type()),
                        weir_planner::sql_type_name(n.data_type())
                    )))
                }
                _ => {}
            }
        }
        if old.key_columns != def.key_columns || old.partitions != def.partitions {
            return Err(incompatible("the key or partition count changed".into()));
        }
        if old.kind != def.kind {
            return Err(incompatible(
                "a stream cannot become a table or back".into(),
            ));
        }
        let stateful = |p: &DataflowPlan| {
            p.nodes.iter().any(|n| {
                matches!(
                    n.op,
                    weir_planner::Op::Aggregate(_)
                        | weir_planner::Op::WindowJoin(_)
                        | weir_planner::Op::TableJoin(_)
                )
            })
        };
        if stateful(plan) {
            return Err(Error::Sql {
                message: format!(
                    "Cannot upgrade data source {}: its query keeps state (an aggregation or a \
                     join), which a replacement would start over",
                    def.name
                ),
                position: create.name.position,
                suggestion: Some(format!(
                    "TERMINATE the query writing {0}, DROP {0}, and create it anew",
                    def.name
                )),
            });
        }
        for source in plan.sources() {
            let memory = self
                .catalog
                .get(source)
                .is_some_and(|d| matches!(d.source, SourceSpec::Memory));
            if !memory {
                return Err(Error::Sql {
                    message: format!(
                        "the query writing {} reads {source}, a file or stdin: a replacement \
                         could not continue where it stopped",
                        def.name
                    ),
                    position: create.name.position,
                    suggestion: Some(format!("TERMINATE {id}, then create the stream anew")),
                });
            }
        }
        self.drain_upstream(std::slice::from_ref(&def.name));
        // Hold the stream open while no query writes it, so its readers do not see it end.
        if let Some(log) = self.logs.get(&def.name) {
            log.add_writer();
        }
        if let Some(error) = self.stop_query(&id) {
            if let Some(log) = self.logs.get(&def.name) {
                log.remove_writer();
            }
            return Err(Error::Execution(format!(
                "query {id} had failed before it could be replaced: {error}"
            )));
        }
        Ok(Some(id))
    }

    fn check_new_name(
        &mut self,
        name: &Name,
        if_not_exists: bool,
        or_replace: bool,
    ) -> Result<Option<Outcome>> {
        if self.catalog.get(&name.value).is_none() {
            return Ok(None);
        }
        if if_not_exists {
            return Ok(Some(Outcome::Done(format!("Stream {name} already exists"))));
        }
        if or_replace {
            // The query writing it may be replaced (see `replace_writer`); other queries
            // reading it keep running.
            let writer = self.queries.iter().find(|(_, q)| q.writes(&name.value));
            if writer.is_some() {
                return Ok(None);
            }
            if let Some((id, _)) = self
                .queries
                .iter()
                .find(|(_, q)| q.sources.contains(&name.value))
            {
                return Err(Error::Sql {
                    message: format!("stream {name} is used by query {id}"),
                    position: name.position,
                    suggestion: Some(format!("stop it first with TERMINATE {id}")),
                });
            }
            // Replaced only once the new definition is complete (insert overwrites).
            return Ok(None);
        }
        Err(Error::Sql {
            message: format!("stream {name} already exists"),
            position: name.position,
            suggestion: Some("use CREATE OR REPLACE, or DROP STREAM it first".into()),
        })
    }

    /// A persistent query writing `sink` must not read `sink`, directly or through other
    /// queries (its output would feed itself forever).
    fn check_no_cycle(&self, sink: &str, plan: &DataflowPlan) -> Result<()> {
        let sources: Vec<String> = plan.sources().into_iter().map(str::to_string).collect();
        let mut upstream: Vec<String> = sources.clone();
        let mut i = 0;
        while i < upstream.len() {
            let stream = upstream[i].clone();
            // (Streams over one topic are one: what is written to one is read from the other.)
            for other in self.catalog.streams() {
                if other.name != stream
                    && self.shares_records(&other.name, &stream)
                    && !upstream.contains(&other.name)
                {
                    upstream.push(other.name.clone());
                }
            }
            for q in self.queries.values().filter(|q| q.writes(&stream)) {
                for s in &q.sources {
                    if !upstream.contains(s) {
                        upstream.push(s.clone());
                    }
                }
            }
            i += 1;
        }
        if upstream
            .iter()
            .any(|s| s == sink || self.shares_records(s, sink))
        {
            return Err(Error::sql(
                format!("a query writing {sink} cannot read {sink}, directly or through other queries: it would feed itself"),
                None,
            ));
        }
        Ok(())
    }

    /// A file sink must not be the input of any stream (writing it would destroy that input).
    fn check_sink_path(&self, path: &str, position: Option<weir_parser::Position>) -> Result<()> {
        let canonical =
            |p: &str| std::fs::canonicalize(p).unwrap_or_else(|_| std::path::PathBuf::from(p));
        let target = canonical(path);
        for def in self.catalog.streams() {
            for spec in [Some(&def.source), def.sink.as_ref()].into_iter().flatten() {
                if let SourceSpec::File { path: other, .. } = spec {
                    if canonical(other) == target {
                        return Err(Error::Sql {
                            message: format!(
                                "PATH '{path}' is already used by stream {}",
                                def.name
                            ),
                            position,
                            suggestion: Some(
                                "write to another file: a file sink replaces the file's contents"
                                    .into(),
                            ),
                        });
                    }
                }
            }
        }
        if target.is_dir() {
            return Err(Error::sql(
                format!("PATH '{path}' is a directory, not a file"),
                position,
            ));
        }
        Ok(())
    }

    /// The stream (or, for `INSERT ... VALUES`, the declared table) a statement writes.
    fn writable(&self, target: &Name, values: bool) -> Result<StreamDef> {
        let def = self.catalog.resolve_insert_target(target, values)?.clone();
        if def.read_only && def.name != DEAD_LETTERS {
            return Err(Error::sql(
                format!(
                    "Cannot insert values into read-only {}: {}",
                    def.kind.to_string().to_lowercase(),
                    def.name
                ),
                target.position,
            ));
        }
        let declared = !self.queries.values().any(|q| q.writes(&def.name));
        if def.kind == SourceKind::Table && !(values && declared) {
            return Err(Error::sql(
                format!(
                    "INSERT INTO can only be used to insert into a stream. {} is a table.",
                    def.name
                ),
                target.position,
            ));
        }
        if def.read_only || def.source != SourceSpec::Memory {
            return Err(Error::Sql {
                message: format!(
                    "cannot insert into {}: it reads from {}",
                    def.name, def.source
                ),
                position: target.position,
                suggestion: Some(
                    "insert into a stream declared without PATH, or one created by a query".into(),
                ),
            });
        }
        Ok(def)
    }

    fn log_of(&self, name: &str) -> Result<Arc<Log>> {
        self.logs
            .get(name)
            .cloned()
            .ok_or_else(|| Error::Internal(format!("stream {name} has no log")))
    }

    /// Appends declared-column rows to an in-memory stream, adding system columns and routing
    /// rows to partitions by key.
    fn append_rows(
        &mut self,
        def: &StreamDef,
        batch: RecordBatch,
        rowtime: Option<ArrayRef>,
        tombstones: bool,
    ) -> Result<()> {
        let log = self.log_of(&def.name)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        // Event time: the stream's TIMESTAMP column (as ksqlDB's timestamp extractor), else
        // the time given with the record, else now. A row whose TIMESTAMP column is null or
        // does not parse is reported as a bad record and skipped.
        let (batch, rowtime) = match &def.timestamp {
            // A tombstone has no value, so no TIMESTAMP column: its time is the record's.
            Some(ts) if !tombstones => {
                let times =
                    crate::sources::event_times(batch.column(ts.column), ts.format.as_deref())?;
                if times.null_count() > 0 {
                    for row in (0..times.len()).filter(|&i| times.is_null(i)) {
                        if let Some(hook) = &self.hook {
                            hook(&crate::BadRecord {
                                stream: def.name.clone(),
                                location: format!("row {} written to {}", row + 1, def.name),
                                reason: "the TIMESTAMP column is null or does not match \
                                         TIMESTAMP_FORMAT"
                                    .into(),
                                record: String::new(),
                            });
                        }
                    }
                    let keep = arrow::compute::is_not_null(&times)?;
                    (
                        arrow::compute::filter_record_batch(&batch, &keep)?,
                        Some(arrow::compute::filter(&times, &keep)?),
                    )
                } else {
                    (batch, Some(times))
                }
            }
            _ => (batch, rowtime),
        };
        // A table has no row without its key: such a record is reported and skipped (as
        // ksqlDB does), tombstones included.
        let (batch, rowtime) = match def.kind {
            SourceKind::Table if !def.key_columns.is_empty() => {
                let mut keep = arrow::array::BooleanArray::from(vec![true; batch.num_rows()]);
                for &k in &def.key_columns {
                    let valid = arrow::compute::is_not_null(batch.column(k))?;
                    keep = arrow::compute::and(&keep, &valid)?;
                }
                if keep.false_count() == 0 {
                    (batch, rowtime)
                } else {
                    for row in (0..keep.len()).filter(|&i| !keep.value(i)) {
                        if let Some(hook) = &self.hook {
                            hook(&crate::BadRecord {
                                stream: def.name.clone(),
                                location: format!("row {} written to {}", row + 1, def.name),
                                reason: format!("a row of table {} needs its key", def.name),
                                record: String::new(),
                            });
                        }
                    }
                    let rowtime = match rowtime {
                        Some(r) => Some(arrow::compute::filter(&r, &keep)?),
                        None => None,
                    };
                    (arrow::compute::filter_record_batch(&batch, &keep)?, rowtime)
                }
            }
            _ => (batch, rowtime),
        };
        let n = batch.num_rows();
        let first = log.reserve_offsets(n)?;
        let rowtime = match rowtime {
            Some(r) => arrow::compute::kernels::zip::zip(
                &arrow::compute::is_not_null(&r)?,
                &r,
                &arrow::array::Scalar::new(Int64Array::from(vec![now])),
            )?,
            None => Arc::new(Int64Array::from_value(now, n)) as ArrayRef,
        };
        let offsets: ArrayRef = Arc::new((0..n as i64).map(|i| first + i).collect::<Int64Array>());
        let mut columns = batch.columns().to_vec();
        columns.push(rowtime);
        columns.push(offsets);
        columns.push(Arc::new(arrow::array::BooleanArray::from(vec![
            tombstones;
            n
        ])));
        let full = RecordBatch::try_new(def.stored_schema(), columns)?;
        let mut parts = vec![Vec::new(); log.partitions()];
        if def.key_columns.is_empty() {
            split_evenly(&full, parts.len(), &mut parts);
        } else {
            let keys: Vec<ArrayRef> = def
                .key_columns
                .iter()
                .map(|&i| Arc::clone(full.column(i)))
                .collect();
            split_by_arrays(&full, &keys, parts.len(), &mut parts)?;
        }
        log.append(parts)
    }

    fn plan(&self, query: &StreamQuery, options: &PlanOptions) -> Result<DataflowPlan> {
        let plan = plan_query(&self.catalog, query, options)?;
        if plan.aggregates_table {
            return Err(Error::Unsupported {
                message: "aggregating a join of tables needs retractions of joined rows, which are not supported yet; aggregate a table that holds the join's result instead"
                    .into(),
                position: Some(query.position),
            });
        }
        Ok(plan)
    }

    fn open_pipeline(
        &self,
        plan: &DataflowPlan,
        follow: bool,
        control: &Arc<QueryControl>,
    ) -> Result<Pipeline> {
        self.open_pipeline_at(plan, follow, false, control)
    }

    /// Opens a query's sources (at their current end when `from_end`) and operators.
    fn open_pipeline_at(
        &self,
        plan: &DataflowPlan,
        follow: bool,
        from_end: bool,
        control: &Arc<QueryControl>,
    ) -> Result<Pipeline> {
        let dead_letters = self.logs.get(DEAD_LETTERS).cloned();
        Pipeline::new(
            plan,
            Arc::clone(&self.workers),
            &control.metrics,
            |stream, history| {
                let def = self
                    .catalog
                    .get(stream)
                    .ok_or_else(|| Error::Internal(format!("stream {stream} vanished")))?;
                let ctx = SourceContext {
                    stream: def.name.clone(),
                    policy: self.config.error_policy,
                    dead_letters: dead_letters.clone(),
                    metrics: Arc::clone(&control.metrics),
                    hook: self.hook.clone(),
                };
                let log = self.logs.get(stream).cloned();
                let scan = Scan::open(def, log, follow, history, from_end, ctx)?;
                Ok((scan, def.timestamp.is_some()))
            },
        )
    }

    /// The stream whose records a new in-memory declaration with an explicit `KAFKA_TOPIC`
    /// shares (the topic is the other's, named or implied by its name), and its log. A stream
    /// and a table over one topic, or a different partition count, is an error.
    fn shared_topic(
        &self,
        def: &StreamDef,
        create: &weir_parser::CreateSource,
    ) -> Result<Option<(String, Arc<Log>)>> {
        let Some(topic) = &def.topic else {
            return Ok(None);
        };
        let at = create.with.get("KAFKA_TOPIC").and_then(|o| o.position);
        for other in self.catalog.streams() {
            if other.name == def.name || topic_of(other) != *topic {
                continue;
            }
            let Some(log) = self.logs.get(&other.name) else {
                continue;
            };
            if other.kind != def.kind {
                return Err(Error::Sql {
                    message: format!(
                        "KAFKA_TOPIC '{topic}' is the topic of {} {}: a {} cannot share it",
                        other.kind.to_string().to_lowercase(),
                        other.name,
                        def.kind.to_string().to_lowercase()
                    ),
                    position: at,
                    suggestion: Some(format!(
                        "declare it as a {} too, or derive it with CREATE {} ... AS SELECT ... FROM {}",
                        other.kind.to_string().to_lowercase(),
                        def.kind,
                        other.name
                    )),
                });
            }
            // One topic's records have one shape: the same key, the same types for the columns
            // both declare, and one event time.
            let key_of = |d: &StreamDef| -> Vec<(String, arrow::datatypes::DataType)> {
                d.key_columns
                    .iter()
                    .map(|&k| {
                        let f = d.columns.field(k);
                        (f.name().clone(), f.data_type().clone())
                    })
                    .collect()
            };
            let clash = def.columns.fields().iter().find(|f| {
                other
                    .columns
                    .field_with_name(f.name())
                    .is_ok_and(|o| o.data_type() != f.data_type())
            });
            let time = |d: &StreamDef| {
                d.timestamp
                    .as_ref()
                    .map(|t| d.columns.field(t.column).name().clone())
            };
            let problem = if key_of(other) != key_of(def) {
                Some("its key columns differ".to_string())
            } else if let Some(f) = clash {
                Some(format!("column {} has another type", f.name()))
            } else if time(other) != time(def) {
                Some("its TIMESTAMP differs".to_string())
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(Error::Sql {
                    message: format!(
                        "KAFKA_TOPIC '{topic}' is the topic of {} {}, which declares its records otherwise: {problem}",
                        other.kind.to_string().to_lowercase(),
                        other.name
                    ),
                    position: at,
                    suggestion: Some(format!(
                        "declare the same key, types and TIMESTAMP as {} (columns may be added or left out)",
                        other.name
                    )),
                });
            }
            if create.with.get("PARTITIONS").is_some() && def.partitions != log.partitions() {
                return Err(Error::sql(
                    format!(
                        "KAFKA_TOPIC '{topic}' has {} partitions (as {} declares), not {}",
                        log.partitions(),
                        other.name,
                        def.partitions
                    ),
                    create.with.get("PARTITIONS").and_then(|o| o.position),
                ));
            }
            return Ok(Some((other.name.clone(), Arc::clone(log))));
        }
        Ok(None)
    }

    /// Under `errors.policy = 'dead-letter'` a query writes `DEAD_LETTERS` (registered as a
    /// writer, so the stream does not end while the query can still add to it).
    fn dead_letter_writer(&self) -> Vec<Arc<Log>> {
        match (self.config.error_policy, self.logs.get(DEAD_LETTERS)) {
            (crate::config::ErrorPolicy::DeadLetter, Some(log)) => vec![Arc::clone(log)],
            _ => Vec::new(),
        }
    }

    /// Before a query reads streams written by persistent queries, let those queries (and
    /// theirs, upstream first) process everything available, so results never depend on timing.
    fn drain_upstream(&self, streams: &[String]) {
        for id in self.upstream_order(streams) {
            if let Some(q) = self.queries.get(&id) {
                q.control.wait_drained();
            }
        }
    }

    /// Ids of the queries that feed `streams`, transitively, upstream first (every writer of
    /// every stream is followed; each stream is visited once).
    fn upstream_order(&self, streams: &[String]) -> Vec<String> {
        let mut order = Vec::new();
        let mut visited: Vec<String> = Vec::new();
        for stream in streams {
            self.visit_upstream(stream, &mut visited, &mut order);
        }
        order
    }

    fn visit_upstream(&self, stream: &str, visited: &mut Vec<String>, order: &mut Vec<String>) {
        if visited.iter().any(|v| v == stream) {
            return;
        }
        visited.push(stream.to_string());
        // (Any query may write DEAD_LETTERS: its bad records go there.)
        let writes = |q: &&PersistentQuery| {
            q.writes(stream)
                || stream == DEAD_LETTERS
                || q.sinks.iter().any(|s| self.shares_records(s, stream))
        };
        for (id, q) in self.queries.iter().filter(|(_, q)| writes(q)) {
            for source in &q.sources {
                self.visit_upstream(source, visited, order);
            }
            if !order.contains(id) {
                order.push(id.clone());
            }
        }
    }

    fn start_transient(&mut self, query: &StreamQuery) -> Result<Query> {
        let plan = self.plan(query, &PlanOptions::default())?;
        let sources: Vec<String> = plan.sources().into_iter().map(str::to_string).collect();
        self.drain_upstream(&sources);
        let control = Arc::new(QueryControl::default());
        let follow = query.emit == Some(Emit::Changes);
        let pipeline = self.open_pipeline(&plan, follow, &control)?;
        let (tx, rx) = sync_channel(16);
        let mut schema = plan.visible_schema();
        let mut columns: Vec<usize> = (0..plan.visible_columns).collect();
        // A changelog's rows say whether they delete their key (a trailing `ROWDELETED`).
        let output = &plan.output().schema;
        let deleted_column = match output.index_of(weir_planner::columns::ROWDELETED) {
            Ok(d) if plan.changelog && query.emit == Some(Emit::Changes) => {
                match schema.index_of(weir_planner::columns::ROWDELETED) {
                    Ok(visible) => Some(visible),
                    Err(_) => {
                        columns.push(d);
                        schema = Arc::new(output.project(&columns)?);
                        Some(columns.len() - 1)
                    }
                }
            }
            _ => None,
        };
        let writes = self.dead_letter_writer();
        for log in &writes {
            log.add_writer();
        }
        // A pull query over a table or an aggregation shows its state: the latest row per key.
        // EMIT FINAL rows are final already (one per window, as it closes): they stream out.
        let shows_state = plan.changelog && query.emit.is_none();
        let sink = if shows_state {
            Sink::Final {
                tx,
                visible: plan.visible_columns,
                keys: changelog_key_columns(&plan),
                buffered: Vec::new(),
            }
        } else {
            Sink::Channel { tx, columns }
        };
        let run = Run {
            pipeline,
            sinks: vec![sink],
            control: Arc::clone(&control),
            limit: plan.limit,
            batch_rows: self.config.batch_max_rows,
            batch_delay: self.config.batch_max_delay,
            writes,
            stamp: None,
        };
        let thread = std::thread::Builder::new()
            .name("weir-query".into())
            .stack_size(QUERY_STACK)
            .spawn(move || run.run())
            .map_err(|e| Error::io("cannot start a query thread", e))?;
        // Only a push query shows changes; a pull query shows state, EMIT FINAL final rows.
        // (Keys the projection does not select are hidden: rows then carry no OP marker.)
        let changelog_keys = (plan.changelog && query.emit == Some(Emit::Changes))
            .then(|| {
                changelog_key_columns(&plan)
                    .into_iter()
                    .filter(|&k| k < plan.visible_columns)
                    .collect::<Vec<_>>()
            })
            .filter(|keys| !keys.is_empty());
        Ok(Query {
            rx: Some(rx),
            control,
            schema,
            thread: Some(thread),
            changelog_keys,
            deleted_column,
        })
    }

    #[allow(clippy::too_many_arguments)]
    /// Starts a persistent query; `resume` starts its in-memory sources at their current end
    /// (a replaced query continues where its predecessor stopped).
    #[allow(clippy::too_many_arguments)]
    fn start_persistent(
        &mut self,
        id: &str,
        stmt: &Statement,
        outputs: &[String],
        plan: DataflowPlan,
        sinks: Vec<Sink>,
        writes: Vec<Arc<Log>>,
        resume: bool,
    ) -> Result<()> {
        let sources: Vec<String> = plan.sources().into_iter().map(str::to_string).collect();
        self.drain_upstream(&sources);
        let explain = plan.explain();
        let mut partition_counts: Vec<usize> = plan
            .nodes
            .iter()
            .filter(|n| !matches!(n.op, weir_planner::Op::Scan { .. }))
            .map(|n| n.partitioning.partitions())
            .collect();
        partition_counts.sort_unstable();
        partition_counts.dedup();
        let control = Arc::new(QueryControl::default());
        let pipeline = self.open_pipeline_at(&plan, true, resume, &control)?;
        let mut writes = writes;
        writes.extend(self.dead_letter_writer());
        for log in &writes {
            log.add_writer();
        }
        let run = Run {
            pipeline,
            sinks,
            control: Arc::clone(&control),
            limit: None,
            batch_rows: self.config.batch_max_rows,
            batch_delay: self.config.batch_max_delay,
            writes,
            stamp: outputs
                .first()
                .and_then(|s| self.catalog.get(s))
                .and_then(|d| d.timestamp.clone()),
        };
        let thread = std::thread::Builder::new()
            .name(format!("weir-{id}"))
            .stack_size(QUERY_STACK)
            .spawn(move || run.run())
            .map_err(|e| Error::io("cannot start a query thread", e))?;
        self.next_query += 1;
        self.queries.insert(
            id.to_string(),
            PersistentQuery {
                sql: stmt.text.clone(),
                explain,
                partition_counts,
                sinks: outputs.to_vec(),
                sources,
                control,
                thread: Some(thread),
            },
        );
        Ok(())
    }

    /// Cancels and joins a persistent query; returns its error, if it failed.
    fn stop_query(&mut self, id: &str) -> Option<String> {
        let mut q = self.queries.remove(id)?;
        q.control.cancel();
        if let Some(t) = q.thread.take() {
            let _ = t.join();
        }
        q.control.error()
    }

    fn show(&self, kind: ShowKind) -> Result<Outcome> {
        let table = |names: &[&str], cols: Vec<Vec<String>>| -> Result<Outcome> {
            let schema = Arc::new(Schema::new(
                names
                    .iter()
                    .map(|n| Field::new(*n, DataType::Utf8, false))
                    .collect::<Vec<_>>(),
            ));
            let arrays: Vec<ArrayRef> = cols
                .into_iter()
                .map(|c| Arc::new(StringArray::from(c)) as ArrayRef)
                .collect();
            Ok(Outcome::Table(RecordBatch::try_new(schema, arrays)?))
        };
        match kind {
            ShowKind::Streams | ShowKind::Tables => {
                let wanted = if kind == ShowKind::Streams {
                    SourceKind::Stream
                } else {
                    SourceKind::Table
                };
                let streams: Vec<&StreamDef> = self
                    .catalog
                    .streams()
                    .filter(|s| s.kind == wanted)
                    .collect();
                let title = if kind == ShowKind::Streams {
                    "STREAM"
                } else {
                    "TABLE"
                };
                table(
                    &[title, "SOURCE", "PARTITIONS", "KEY"],
                    vec![
                        streams.iter().map(|s| s.name.clone()).collect(),
                        streams
                            .iter()
                            .map(|s| match &s.sink {
                                // A query's result that is also written to a file.
                                Some(sink) => format!("{sink} + {}", s.source),
                                None => s.source.to_string(),
                            })
                            .collect(),
                        streams.iter().map(|s| s.partitions.to_string()).collect(),
                        streams.iter().map(|s| s.key_names().join(", ")).collect(),
                    ],
                )
            }
            ShowKind::Queries => {
                let q: Vec<(&String, &PersistentQuery)> = self.queries.iter().collect();
                table(
                    &[
                        "QUERY_ID",
                        "STATUS",
                        "SINK",
                        "RECORDS_IN",
                        "RECORDS_OUT",
                        "BAD",
                        "SQL",
                    ],
                    vec![
                        q.iter().map(|(id, _)| (*id).clone()).collect(),
                        q.iter()
                            .map(
                                |(_, q)| match (q.control.is_finished(), q.control.error()) {
                                    (_, Some(e)) => format!("FAILED: {e}"),
                                    (true, None) => "FINISHED".into(),
                                    (false, None) => "RUNNING".into(),
                                },
                            )
                            .collect(),
                        q.iter().map(|(_, q)| q.sinks.join(", ")).collect(),
                        q.iter()
                            .map(|(_, q)| q.control.metrics.snapshot().records_in.to_string())
                            .collect(),
                        q.iter()
                            .map(|(_, q)| q.control.metrics.snapshot().records_out.to_string())
                            .collect(),
                        q.iter()
                            .map(|(_, q)| q.control.metrics.snapshot().bad_records.to_string())
                            .collect(),
                        q.iter().map(|(_, q)| q.sql.clone()).collect(),
                    ],
                )
            }
            ShowKind::Properties => {
                let props = self.config.properties();
                table(
                    &["PROPERTY", "VALUE", "MEANING"],
                    vec![
                        props.keys().map(|k| k.to_string()).collect(),
                        props.values().cloned().collect(),
                        props
                            .keys()
                            .map(|k| {
                                crate::config::PROPERTIES
                                    .iter()
                                    .find(|(n, _)| n == k)
                                    .map(|(_, d)| d.to_string())
                                    .unwrap_or_default()
                            })
                            .collect(),
                    ],
                )
            }
            ShowKind::Topics => {
                let mut topics: std::collections::BTreeMap<String, (usize, Vec<String>)> =
                    Default::default();
                for def in self.catalog.streams().filter(|d| d.name != DEAD_LETTERS) {
                    let entry = topics
                        .entry(topic_of(def))
                        .or_insert((def.partitions, Vec::new()));
                    entry.1.push(def.name.clone());
                }
                let mut cols: Vec<Vec<String>> = vec![Vec::new(); 3];
                for (topic, (partitions, streams)) in topics {
                    cols[0].push(topic);
                    cols[1].push(partitions.to_string());
                    cols[2].push(streams.join(", "));
                }
                table(&["TOPIC", "PARTITIONS", "STREAMS AND TABLES"], cols)
            }
            ShowKind::Types => {
                let (names, types): (Vec<String>, Vec<String>) = self
                    .catalog
                    .types()
                    .map(|(n, t)| (n.clone(), t.to_string()))
                    .unzip();
                table(&["TYPE", "SCHEMA"], vec![names, types])
            }
            ShowKind::Functions => {
                let names = weir_planner::function_names();
                table(
                    &["FUNCTION"],
                    vec![names.into_iter().map(|n| n.to_uppercase()).collect()],
                )
            }
            ShowKind::Assignments => {
                let plan = match self.workers.read() {
                    Ok(p) => p.clone(),
                    Err(poisoned) => poisoned.into_inner().clone(),
                };
                let mut cols: Vec<Vec<String>> = vec![Vec::new(); 5];
                for (id, q) in &self.queries {
                    for &parts in &q.partition_counts {
                        let owners = plan.strategy.assign(parts, plan.workers)?;
                        for w in 0..plan.workers {
                            let mine: Vec<String> = owners
                                .iter()
                                .enumerate()
                                .filter(|(_, o)| **o == w)
                                .map(|(p, _)| p.to_string())
                                .collect();
                            if mine.is_empty() {
                                continue;
                            }
                            cols[0].push(id.clone());
                            cols[1].push(plan.strategy.name());
                            cols[2].push(parts.to_string());
                            cols[3].push(w.to_string());
                            cols[4].push(mine.join(", "));
                        }
                    }
                }
                table(
                    &[
                        "QUERY_ID",
                        "STRATEGY",
                        "OF_PARTITIONS",
                        "WORKER",
                        "PARTITIONS",
                    ],
                    cols,
                )
            }
        }
    }

    fn describe(&self, def: &StreamDef, extended: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Name        : {}", def.name);
        let _ = writeln!(out, "Type        : {}", def.kind);
        let _ = writeln!(out, "Source      : {}", def.source);
        if let Some(SourceSpec::File { path, format }) = &def.sink {
            let _ = writeln!(out, "Written to  : file '{path}' {format}");
        }
        let _ = writeln!(out, "Partitions  : {}", def.partitioning());
        let ts = def
            .timestamp
            .as_ref()
            .map(|t| def.columns.field(t.column).name().clone())
            .unwrap_or_else(|| match def.source {
                SourceSpec::Memory => "ROWTIME of the records written to it".into(),
                _ => "ingestion time".into(),
            });
        let _ = writeln!(out, "Event time  : {ts}");
        let width = def
            .columns
            .fields()
            .iter()
            .map(|f| f.name().len())
            .max()
            .unwrap_or(5)
            .max(ROWTIME.len());
        let _ = writeln!(out, "\n {:width$} | Type", "Field");
        let _ = writeln!(out, "-{}-+-{}", "-".repeat(width), "-".repeat(24));
        let _ = writeln!(out, " {:width$} | BIGINT (system)", ROWTIME);
        for (i, f) in def.columns.fields().iter().enumerate() {
            let key = if def.key_columns.contains(&i) {
                " (key)"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                " {:width$} | {}{key}",
                f.name(),
                sql_type_name(f.data_type())
            );
        }
        if extended {
            let readers: Vec<&String> = self
                .queries
                .iter()
                .filter(|(_, q)| q.sources.contains(&def.name))
                .map(|(id, _)| id)
                .collect();
            let writers: Vec<&String> = self
                .queries
                .iter()
                .filter(|(_, q)| q.writes(&def.name))
                .map(|(id, _)| id)
                .collect();
            let _ = writeln!(out, "\nRead by     : {}", join_or_none(&readers));
            let _ = writeln!(out, "Written by  : {}", join_or_none(&writers));
            if let Some(log) = self.logs.get(&def.name) {
                let _ = writeln!(out, "Records     : {} in memory", log.rows());
            }
        }
        out
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let ids: Vec<String> = self.queries.keys().cloned().collect();
        for id in ids {
            self.stop_query(&id);
        }
    }
}

/// A stream or table as the catalog knows it.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    /// Its name.
    pub name: String,
    /// Whether it is a table (a changelog keyed by `key_columns`).
    pub is_table: bool,
    /// Its declared columns.
    pub schema: arrow::datatypes::SchemaRef,
    /// Indices of the key columns.
    pub key_columns: Vec<usize>,
    /// The Kafka topic it reads or writes (its name when no `KAFKA_TOPIC` was given).
    pub topic: String,
    /// The field delimiter when its values are DELIMITED text (None for JSON).
    pub delimiter: Option<u8>,
    /// Whether its one value column is written bare, not in a JSON object
    /// (`WRAP_SINGLE_VALUE=false`).
    pub unwrapped: bool,
    /// How its key travels as a Kafka key: `KAFKA`, `JSON`, `DELIMITED` or `NONE`.
    pub key_format: String,
}

/// The result of one statement run by [`Session::execute`].
#[derive(Debug)]
#[non_exhaustive]
pub enum ExecuteResult {
    /// A confirmation or text (DDL, `DESCRIBE`, `EXPLAIN`).
    Message(String),
    /// Result rows (queries and `SHOW`).
    Rows(Vec<RecordBatch>),
}

/// The columns that key a changelog's rows: the output's key, and the window bounds.
fn changelog_key_columns(plan: &DataflowPlan) -> Vec<usize> {
    if !plan.state_keys.is_empty() {
        return plan.state_keys.clone();
    }
    let visible = plan.visible_schema();
    let mut keys: Vec<usize> = match &plan.output().partitioning {
        weir_planner::Partitioning::Hash { keys, .. } => keys
            .iter()
            .filter_map(|k| visible.index_of(k).ok())
            .collect(),
        weir_planner::Partitioning::Unkeyed { .. } => Vec::new(),
    };
    for bound in [
        weir_planner::columns::WINDOWSTART,
        weir_planner::columns::WINDOWEND,
    ] {
        keys.extend(visible.index_of(bound).ok());
    }
    keys
}

fn join_or_none(v: &[&String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// A schema as ksqlDB prints one: `` `K` STRING KEY, `V` INTEGER ``.
fn ksql_schema(schema: &Schema, keys: &[usize]) -> String {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            format!(
                "`{}` {}{}",
                f.name(),
                sql_type_name(f.data_type()),
                if keys.contains(&i) { " KEY" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_function(name: &Name) -> Result<String> {
    weir_planner::describe_function(&name.value).ok_or_else(|| {
        let names = weir_planner::function_names();
        Error::Sql {
            message: format!("unknown function {name}"),
            position: name.position,
            suggestion: weir_parser::closest_match(&name.value.to_lowercase(), &names)
                .map(|s| format!("did you mean {}?", s.to_uppercase())),
        }
    })
}

/// Unquoted names are upper-cased, as in SQL text.
fn normalize(name: &str) -> String {
    if let Some(quoted) = name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
        quoted.to_string()
    } else {
        name.to_uppercase()
    }
}

/// A better place for an error the planner could only place at its statement: the function
/// call (`Function 'round' ...`) or the quoted literal (`unknown time zone 'Mars/X'`) the
/// message names, found in the statement's text.
fn refine_position(stmt: &Statement, message: &str) -> Option<weir_parser::Position> {
    let text = &stmt.text;
    let lower = text.to_lowercase();
    let offset = if let Some(name) = message
        .strip_prefix("Function '")
        .and_then(|rest| rest.split_once('\''))
        .map(|(name, _)| name.to_lowercase())
    {
        // `name(` at a word boundary.
        let call = format!("{name}(");
        lower.match_indices(&call).map(|(i, _)| i).find(|&i| {
            i == 0
                || !lower[..i]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
    } else {
        // The first quoted value of the message that is a literal of the statement.
        message
            .split('\'')
            .skip(1)
            .step_by(2)
            .filter(|q| !q.is_empty())
            .find_map(|q| text.find(&format!("'{q}'")))
    }?;
    // (Line and column of the offset, from the statement's own position.)
    let before = text.get(..offset)?;
    let line = stmt.position.line + before.matches('\n').count() as u64;
    let column = match before.rfind('\n') {
        Some(nl) => before[nl + 1..].chars().count() as u64 + 1,
        None => stmt.position.column + before.chars().count() as u64,
    };
    Some(weir_parser::Position::new(line, column))
}

/// The Kafka topic a stream stands for: its `KAFKA_TOPIC`, or its name.
fn topic_of(def: &StreamDef) -> String {
    def.topic.clone().unwrap_or_else(|| def.name.clone())
}

/// ksqlDB's and Kafka's own settings (`auto.offset.reset`, `ksql.*`, ...) are accepted by SET
/// and UNSET so ported scripts run; they change nothing here.
fn ignored_setting(name: &str) -> Option<Outcome> {
    let lower = name.to_ascii_lowercase();
    let foreign = [
        "ksql.",
        "auto.offset.reset",
        "cache.max.bytes",
        "commit.interval",
        "processing.guarantee",
        "num.stream.threads",
        "streams.",
    ]
    .iter()
    .any(|p| lower.starts_with(p));
    (foreign && !Config::default().properties().contains_key(lower.as_str())).then(|| {
        Outcome::Done(format!(
            "Property '{name}' is a ksqlDB/Kafka setting with no effect in Weir: ignored"
        ))
    })
}
