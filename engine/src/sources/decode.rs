//! Decoding chunks of lines into record batches with arrow-json / arrow-csv, and routing the
//! records that cannot be decoded.
//!
//! The fast path decodes a whole chunk in one decoder call. Only when that fails is the chunk
//! decoded line by line, to find exactly which records are bad and why; good records of that
//! chunk are kept.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, StringArray};
use arrow::compute::{cast, concat_batches, filter, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use weir_planner::{Format, StreamDef};

use super::lines::Chunk;
use super::{BadRecord, SourceContext};
use crate::error::Result;
use weir_planner::timefmt::TimestampFormat;

/// Turns chunks of lines into batches of a stream's physical schema.
pub(crate) struct RecordDecoder {
    format: Format,
    /// Declared columns.
    columns: SchemaRef,
    /// Declared columns under the names the input uses (JSON field spellings): every
    /// spelling seen, and for each declared column the decoded columns that feed it.
    decode_schema: Option<(SchemaRef, Vec<Vec<usize>>)>,
    physical: SchemaRef,
    timestamp: Option<(usize, Option<TimestampFormat>)>,
    ctx: SourceContext,
    next_offset: i64,
    /// The JSON decoder of the fast path, reused from chunk to chunk.
    json: Option<arrow::json::reader::Decoder>,
    /// `WRAP_SINGLE_VALUE=false`: each line is the bare value of this column.
    unwrap_into: Option<String>,
    /// The STRING column that collects a record's undeclared fields (`UNKNOWN_FIELDS`).
    unknown_fields: Option<usize>,
    /// A table's primary key columns: a row without its key is a bad record.
    table_keys: Vec<usize>,
}

impl RecordDecoder {
    /// `sample`: the first lines of the input, when they can be read ahead (files), so field
    /// spellings are learned the same way whatever the batch size.
    pub(crate) fn new(
        def: &StreamDef,
        format: Format,
        ctx: SourceContext,
        sample: Option<Vec<Vec<u8>>>,
    ) -> Result<Self> {
        let timestamp = match &def.timestamp {
            None => None,
            Some(t) => Some((
                t.column,
                t.format
                    .as_deref()
                    .map(TimestampFormat::new)
                    .transpose()
                    .map_err(crate::error::Error::Config)?,
            )),
        };
        let unwrap_into = (format == Format::JsonValue)
            .then(|| {
                def.columns
                    .fields()
                    .iter()
                    .enumerate()
                    .find(|(i, _)| !def.key_columns.contains(i))
                    .map(|(_, f)| f.name().clone())
            })
            .flatten();
        let format = if format == Format::JsonValue {
            Format::Json
        } else {
            format
        };
        let mut decoder = Self {
            unknown_fields: def.unknown_fields,
            unwrap_into,
            format,
            columns: Arc::clone(&def.columns),
            decode_schema: None,
            physical: def.stored_schema(),
            timestamp,
            ctx,
            next_offset: 0,
            json: None,
            table_keys: if def.kind == weir_parser::SourceKind::Table {
                def.key_columns.clone()
            } else {
                Vec::new()
            },
        };
        if let Some(lines) = sample {
            decoder.decode_schema = Some(decoder.resolve_names(lines.iter().map(Vec::as_slice)));
        }
        Ok(decoder)
    }

    /// Decodes a chunk; bad records are counted and routed by the error policy.
    pub(crate) fn decode(&mut self, chunk: &Chunk) -> Result<RecordBatch> {
        match &self.unwrap_into {
            Some(name) => {
                let wrapped = wrap_chunk(chunk, name);
                self.decode_wrapped(&wrapped)
            }
            None => self.decode_wrapped(chunk),
        }
    }

    fn decode_wrapped(&mut self, chunk: &Chunk) -> Result<RecordBatch> {
        let n = chunk.lines.len();
        let base_offset = self.next_offset;
        self.next_offset += n as i64;
        self.ctx.metrics.add_in(n as u64);
        if self.decode_schema.is_none() {
            self.decode_schema = Some(self.resolve_names((0..n.min(1000)).map(|i| chunk.line(i))));
        }
        let fast = if chunk.unterminated.is_empty() {
            self.decode_all(chunk).ok()
        } else {
            None
        };
        // Bad records are reported in line order once the chunk is read (they are found in
        // several passes).
        let mut bad: Vec<(usize, BadRecord)> = Vec::new();
        let (batch, good) = match fast {
            Some(batch) if batch.num_rows() == n => (batch, None),
            _ => self.decode_each(chunk, &mut bad)?,
        };
        let (batch, good) = match self.to_declared(&batch) {
            Ok(b) => (b, good),
            // A value that decodes but does not convert (bad base64 in a BYTES column): find
            // the rows, one at a time, and route them as bad records.
            Err(_) => {
                let lines: Vec<usize> = good.clone().unwrap_or_else(|| (0..n).collect());
                let mut kept = Vec::new();
                let mut kept_lines = Vec::new();
                for (r, &line) in lines.iter().enumerate() {
                    // (Taken, not sliced: a slice of a list still holds every row's values.)
                    let row = arrow::compute::take_record_batch(
                        &batch,
                        &arrow::array::UInt32Array::from(vec![r as u32]),
                    )?;
                    match self.to_declared(&row) {
                        Ok(b) => {
                            kept.push(b);
                            kept_lines.push(line);
                        }
                        Err(e) => {
                            let reason = e
                                .to_string()
                                .trim_start_matches("query failed: ")
                                .to_string();
                            bad.push((
                                line,
                                BadRecord::new(chunk, line, base_offset + line as i64, &reason),
                            ));
                        }
                    }
                }
                (concat_batches(&self.columns, &kept)?, Some(kept_lines))
            }
        };
        let batch = match self.unknown_fields {
            Some(column) => self.with_unknown_fields(batch, column, chunk, good.as_deref())?,
            None => batch,
        };
        let offsets: Int64Array = match &good {
            None => (0..n as i64).map(|i| base_offset + i).collect(),
            Some(rows) => rows.iter().map(|&i| base_offset + i as i64).collect(),
        };
        let rowtime = self.rowtime(&batch)?;
        // A table row needs its primary key.
        let mut keyed: Option<arrow::array::BooleanArray> = None;
        for &k in &self.table_keys {
            let present = arrow::compute::is_not_null(batch.column(k))?;
            keyed = Some(match keyed {
                Some(acc) => arrow::compute::and(&acc, &present)?,
                None => present,
            });
        }
        let keyed = keyed.filter(|k| k.false_count() > 0);
        // A number too large for its DOUBLE column (1e400) reads as infinity: a bad record,
        // not a silently changed value.
        let mut finite: Option<arrow::array::BooleanArray> = None;
        for column in batch.columns() {
            let ok: Option<arrow::array::BooleanArray> = match column.data_type() {
                arrow::datatypes::DataType::Float64 => Some(
                    column
                        .as_primitive::<arrow::datatypes::Float64Type>()
                        .iter()
                        .map(|v| Some(v.is_none_or(f64::is_finite)))
                        .collect(),
                ),
                arrow::datatypes::DataType::Float32 => Some(
                    column
                        .as_primitive::<arrow::datatypes::Float32Type>()
                        .iter()
                        .map(|v| Some(v.is_none_or(f32::is_finite)))
                        .collect(),
                ),
                _ => None,
            };
            if let Some(ok) = ok.filter(|ok| ok.false_count() > 0) {
                finite = Some(match finite {
                    Some(acc) => arrow::compute::and(&acc, &ok)?,
                    None => ok,
                });
            }
        }
        // ... unless it was written as text: "NaN", "Infinity", "-Infinity" are how Weir (and
        // ksqlDB) write the DOUBLEs JSON numbers cannot hold.
        if let (Some(f), Format::Json) = (finite.as_ref(), &self.format) {
            let rows: Vec<usize> = good.clone().unwrap_or_else(|| (0..n).collect());
            let fixed: arrow::array::BooleanArray = (0..f.len())
                .map(|k| {
                    Some(
                        f.value(k)
                            || rows
                                .get(k)
                                .is_some_and(|&r| non_finite_as_text(chunk.line(r), &batch, k)),
                    )
                })
                .collect();
            finite = (fixed.false_count() > 0).then_some(fixed);
        }
        let keyed = match (keyed, finite.as_ref()) {
            (None, None) => None,
            (Some(k), None) => Some(k),
            (None, Some(f)) => Some(f.clone()),
            (Some(k), Some(f)) => Some(arrow::compute::and(&k, f)?),
        };
        let (batch, rowtime, offsets) = if rowtime.null_count() == 0 && keyed.is_none() {
            (batch, rowtime, Arc::new(offsets) as ArrayRef)
        } else {
            // Records without a valid event time cannot be placed in time, table rows without
            // their key are not rows of the table: they are bad records.
            let timed = arrow::compute::is_not_null(&rowtime)?;
            let valid = match &keyed {
                Some(keyed) => arrow::compute::and(&timed, keyed)?,
                None => timed.clone(),
            };
            let rows: Vec<usize> = good.clone().unwrap_or_else(|| (0..n).collect());
            for (k, &row) in rows.iter().enumerate() {
                if !valid.value(k) {
                    let reason = if finite.as_ref().is_some_and(|f| !f.value(k)) {
                        "a number is out of range for its DOUBLE column"
                    } else if keyed.as_ref().is_some_and(|keyed| !keyed.value(k)) {
                        "a table row needs its PRIMARY KEY, which is null"
                    } else {
                        &self.timestamp_problem(&batch, k)
                    };
                    bad.push((
                        row,
                        BadRecord::new(chunk, row, base_offset + row as i64, reason),
                    ));
                }
            }
            (
                filter_record_batch(&batch, &valid)?,
                filter(&rowtime, &valid)?,
                filter(&offsets, &valid)?,
            )
        };
        bad.sort_by_key(|(line, _)| *line);
        for (_, record) in bad {
            self.ctx.bad(record)?;
        }
        let rows = batch.num_rows();
        let mut columns = batch.columns().to_vec();
        columns.push(rowtime);
        columns.push(offsets);
        // A table's rows read from a file are upserts, never tombstones (ROWDELETED).
        if self.physical.fields().len() > columns.len() {
            columns.push(Arc::new(arrow::array::BooleanArray::from(vec![
                false;
                rows
            ])));
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.physical), columns)?)
    }

    fn rowtime(&self, batch: &RecordBatch) -> Result<ArrayRef> {
        let Some((col, format)) = &self.timestamp else {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            return Ok(Arc::new(Int64Array::from_value(now, batch.num_rows())));
        };
        let column = batch.column(*col);
        Ok(match format {
            Some(f) => {
                let strings = column.as_string::<i32>();
                Arc::new(
                    strings
                        .iter()
                        .map(|s| s.and_then(|s| f.parse_millis(s)))
                        .collect::<Int64Array>(),
                )
            }
            None => cast(column, &DataType::Int64)?,
        })
    }

    /// `batch` with `column` holding, for each row, the fields of its JSON record that no
    /// declared column reads, as a JSON object (NULL when there are none). `lines`: the chunk
    /// lines of the rows (all of them when `None`).
    fn with_unknown_fields(
        &self,
        batch: RecordBatch,
        column: usize,
        chunk: &Chunk,
        lines: Option<&[usize]>,
    ) -> Result<RecordBatch> {
        let declared: Vec<&String> = self.columns.fields().iter().map(|f| f.name()).collect();
        let mut out = arrow::array::StringBuilder::new();
        for k in 0..batch.num_rows() {
            let line = lines.and_then(|l| l.get(k).copied()).unwrap_or(k);
            let rest = match serde_json::from_slice::<serde_json::Value>(chunk.line(line)) {
                Ok(serde_json::Value::Object(mut map)) => {
                    map.retain(|key, _| !declared.iter().any(|d| d.eq_ignore_ascii_case(key)));
                    (!map.is_empty()).then(|| serde_json::Value::Object(map).to_string())
                }
                _ => None,
            };
            out.append_option(rest);
        }
        let mut columns = batch.columns().to_vec();
        if let Some(slot) = columns.get_mut(column) {
            *slot = Arc::new(out.finish());
        }
        Ok(RecordBatch::try_new(batch.schema(), columns)?)
    }

    /// Why row `k` has no event time: its TIMESTAMP column is NULL, or its text does not
    /// match TIMESTAMP_FORMAT (the value is shown).
    fn timestamp_problem(&self, batch: &RecordBatch, k: usize) -> String {
        let Some((col, format)) = &self.timestamp else {
            return "the record has no event time".into();
        };
        let name = self.columns.field(*col).name();
        let column = batch.column(*col);
        if column.is_null(k) {
            return format!("the TIMESTAMP column {name} is null");
        }
        match (format, column.as_string_opt::<i32>()) {
            (Some(f), Some(text)) => format!(
                "the TIMESTAMP column {name} holds '{}', which does not match TIMESTAMP_FORMAT '{}'",
                text.value(k),
                f.pattern()
            ),
            _ => format!("the TIMESTAMP column {name} is not a time"),
        }
    }

    /// A decoder's message in the user's terms: SQL type and column names, not Arrow's.
    fn explain(&self, reason: &str) -> String {
        let sql = |name: &str| {
            self.columns
                .fields()
                .iter()
                .find(|f| f.name().eq_ignore_ascii_case(name))
                .map(|f| weir_planner::sql_type_name(f.data_type()))
        };
        // JSON: `whilst decoding field 'amt': expected primitive got true`.
        if let Some(rest) = reason.strip_prefix("whilst decoding field '") {
            if let Some((field, what)) = rest.split_once("': ") {
                let ty = sql(field).unwrap_or_default();
                let what = if let Some(got) = what.strip_prefix("expected primitive got ") {
                    format!("expected a {ty} value, got {got}")
                } else if let Some(v) = what
                    .strip_prefix("failed to parse ")
                    .and_then(|v| v.rsplit_once(" as "))
                    .map(|(v, _)| v)
                {
                    format!("{v} is not a valid {ty}")
                } else {
                    what.to_string()
                };
                return format!("field '{field}' ({ty}): {what}");
            }
        }
        if reason.starts_with("Truncated record whilst reading") {
            return "the JSON record is cut off (it does not close)".into();
        }
        // CSV: `Error while parsing value 'x' as type 'Int32' for column 0 Row data: '[..]'`.
        if let Some(rest) = reason.strip_prefix("Error while parsing value '") {
            if let Some((value, rest)) = rest.split_once("' as type '") {
                let column = rest
                    .split_once("for column ")
                    .and_then(|(_, c)| c.split_whitespace().next())
                    .and_then(|c| c.parse::<usize>().ok());
                let schema = self.schema();
                if let Some(f) = column.and_then(|c| schema.fields().get(c)) {
                    let ty =
                        sql(f.name()).unwrap_or_else(|| weir_planner::sql_type_name(f.data_type()));
                    return format!(
                        "'{value}' is not a valid {ty} (field {} of the record, column {})",
                        column.unwrap_or(0) + 1,
                        f.name()
                    );
                }
            }
        }
        reason.to_string()
    }

    /// JSON fields match columns case-insensitively: learn the spellings the input uses from
    /// the first chunk. When a file spells a field several ways, each spelling is decoded and
    /// the first non-null value wins.
    fn resolve_names<'a>(
        &self,
        lines: impl Iterator<Item = &'a [u8]>,
    ) -> (SchemaRef, Vec<Vec<usize>>) {
        let identity = || (0..self.columns.fields().len()).map(|i| vec![i]).collect();
        if self.format != Format::Json {
            return (delimited_schema(&self.columns), identity());
        }
        let mut seen: Vec<String> = Vec::new();
        let mut samples: Vec<(String, Vec<serde_json::Value>)> = Vec::new();
        for line in lines {
            if let Ok(serde_json::Value::Object(map)) =
                serde_json::from_slice::<serde_json::Value>(line)
            {
                for (k, v) in map {
                    if !seen.contains(&k) {
                        seen.push(k.clone());
                        samples.push((k.clone(), Vec::new()));
                    }
                    if let Some((_, list)) = samples.iter_mut().find(|(n, _)| *n == k) {
                        if list.len() < 100 && (v.is_object() || v.is_array()) {
                            list.push(v);
                        }
                    }
                }
            }
        }
        let mut fields = Vec::new();
        let mut sources = Vec::new();
        for f in self.columns.fields() {
            let mut spellings: Vec<String> = seen
                .iter()
                .filter(|s| s.eq_ignore_ascii_case(f.name()))
                .cloned()
                .collect();
            if spellings.is_empty() {
                spellings.push(f.name().clone());
            }
            let mut feeds = Vec::new();
            for spelt in spellings {
                let values: Vec<&serde_json::Value> = samples
                    .iter()
                    .find(|(n, _)| *n == spelt)
                    .map(|(_, v)| v.iter().collect())
                    .unwrap_or_default();
                feeds.push(fields.len());
                fields.push(Field::new(spelt, respell(f.data_type(), &values), true));
            }
            sources.push(feeds);
        }
        (Arc::new(Schema::new(fields)), sources)
    }

    fn schema(&self) -> SchemaRef {
        self.decode_schema
            .as_ref()
            .map(|(s, _)| Arc::clone(s))
            .unwrap_or_else(|| Arc::clone(&self.columns))
    }

    /// Decoded columns → declared columns (merging spellings of one field).
    fn to_declared(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let Some((_, sources)) = &self.decode_schema else {
            return Ok(RecordBatch::try_new(
                Arc::clone(&self.columns),
                batch.columns().to_vec(),
            )?);
        };
        let mut columns = Vec::with_capacity(sources.len());
        for feeds in sources {
            let target = self.columns.field(columns.len()).data_type();
            let mut column = conform(Arc::clone(batch.column(feeds[0])), target)?;
            for &other in &feeds[1..] {
                let keep = arrow::compute::is_not_null(&column)?;
                let other = conform(Arc::clone(batch.column(other)), target)?;
                column = arrow::compute::kernels::zip::zip(&keep, &column, &other)?;
            }
            columns.push(column);
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.columns), columns)?)
    }

    /// A JSON record whose STRING columns hold objects, arrays, numbers or booleans: ksqlDB
    /// keeps such values as their JSON text (for `EXTRACTJSONFIELD` and friends). `None` when
    /// that does not make the record readable.
    fn decode_with_json_text(&self, line: &[u8]) -> Option<RecordBatch> {
        if self.format != Format::Json {
            return None;
        }
        let serde_json::Value::Object(mut map) = serde_json::from_slice(line).ok()? else {
            return None;
        };
        let mut changed = false;
        for f in self.columns.fields() {
            if f.data_type() != &DataType::Utf8 {
                continue;
            }
            for (key, value) in map.iter_mut() {
                if key.eq_ignore_ascii_case(f.name()) && !(value.is_string() || value.is_null()) {
                    *value = serde_json::Value::String(value.to_string());
                    changed = true;
                }
            }
        }
        if !changed {
            return None;
        }
        let mut text = serde_json::to_vec(&serde_json::Value::Object(map)).ok()?;
        text.push(b'\n');
        self.decode_bytes(&text, 1)
            .ok()
            .filter(|b| b.num_rows() == 1)
    }

    fn decode_bytes(&self, bytes: &[u8], rows: usize) -> Result<RecordBatch, String> {
        let schema = self.schema();
        let empty = || RecordBatch::new_empty(Arc::clone(&schema));
        match &self.format {
            Format::Json | Format::JsonValue => {
                let mut decoder = arrow::json::ReaderBuilder::new(Arc::clone(&schema))
                    .with_batch_size(rows.max(1))
                    .with_strict_mode(false)
                    // A number or boolean read into a STRING column is its text (as ksqlDB reads it).
                    .with_coerce_primitive(true)
                    .build_decoder()
                    .map_err(|e| e.to_string())?;
                let used = decoder.decode(bytes).map_err(|e| e.to_string())?;
                if used < bytes.len() {
                    return Err("more records than lines".into());
                }
                Ok(decoder
                    .flush()
                    .map_err(|e| e.to_string())?
                    .unwrap_or_else(empty))
            }
            Format::Delimited { delimiter, .. } => {
                let mut decoder = arrow::csv::ReaderBuilder::new(Arc::clone(&schema))
                    .with_batch_size(rows.max(1))
                    .with_delimiter(*delimiter)
                    .with_header(false)
                    .with_null_regex(empty_field())
                    .build_decoder();
                let used = decoder.decode(bytes).map_err(|e| e.to_string())?;
                if used < bytes.len() {
                    return Err("more records than lines".into());
                }
                Ok(decoder
                    .flush()
                    .map_err(|e| e.to_string())?
                    .unwrap_or_else(empty))
            }
        }
    }

    fn decode_all(&mut self, chunk: &Chunk) -> Result<RecordBatch, String> {
        if self.format != Format::Json {
            return self.decode_bytes(&chunk.data, chunk.lines.len());
        }
        // Reuse one decoder; a failure may leave it mid-record, so it is dropped then.
        let mut decoder = match self.json.take() {
            Some(d) => d,
            None => arrow::json::ReaderBuilder::new(self.schema())
                .with_batch_size(chunk.lines.len().max(1))
                .with_strict_mode(false)
                // A number or boolean read into a STRING column is its text (as ksqlDB reads it).
                .with_coerce_primitive(true)
                .build_decoder()
                .map_err(|e| e.to_string())?,
        };
        let mut parts = Vec::new();
        let mut data: &[u8] = &chunk.data;
        while !data.is_empty() {
            let used = decoder.decode(data).map_err(|e| e.to_string())?;
            data = &data[used..];
            if let Some(b) = decoder.flush().map_err(|e| e.to_string())? {
                parts.push(b);
            } else if used == 0 {
                return Err("the decoder made no progress".into());
            }
        }
        if let Some(b) = decoder.flush().map_err(|e| e.to_string())? {
            parts.push(b);
        }
        self.json = Some(decoder);
        match parts.len() {
            0 => Ok(RecordBatch::new_empty(self.schema())),
            1 => Ok(parts.remove(0)),
            _ => concat_batches(&self.schema(), &parts).map_err(|e| e.to_string()),
        }
    }

    /// The slow path: one record at a time. Returns the good records and their line indices.
    fn decode_each(
        &self,
        chunk: &Chunk,
        bad: &mut Vec<(usize, BadRecord)>,
    ) -> Result<(RecordBatch, Option<Vec<usize>>)> {
        let mut good = Vec::new();
        let mut rows = Vec::new();
        for i in 0..chunk.lines.len() {
            let line = chunk.line(i);
            let mut bytes = line.to_vec();
            bytes.push(b'\n');
            let outcome = match std::str::from_utf8(line) {
                _ if chunk.unterminated.contains(&i) => Err(format!(
                    "a quoted field is not closed (the record runs to line {})",
                    chunk.lines[i].2 + line.iter().filter(|&&b| b == b'\n').count() as u64
                )),
                Err(e) => Err(format!("invalid UTF-8 at byte {}", e.valid_up_to())),
                Ok(_) => match self
                    .decode_bytes(&bytes, 1)
                    .or_else(|e| self.decode_with_json_text(line).ok_or(e))
                {
                    Ok(b) if b.num_rows() == 1 => Ok(b),
                    Ok(b) if b.num_rows() == 0 => Err(match self.format {
                        Format::Json | Format::JsonValue => "not a JSON object".to_string(),
                        Format::Delimited { .. } => "empty record".to_string(),
                    }),
                    Ok(_) => Err("more than one record on one line".to_string()),
                    Err(e) if e == "more records than lines" => Err(match self.format {
                        Format::Json | Format::JsonValue => {
                            "text after the JSON object".to_string()
                        }
                        Format::Delimited { .. } => "more than one record on one line".to_string(),
                    }),
                    Err(e) => Err(self.explain(&tidy_reason(&e))),
                },
            };
            match outcome {
                Ok(b) => {
                    good.push(b);
                    rows.push(i);
                }
                Err(reason) => {
                    let offset = self.next_offset - chunk.lines.len() as i64 + i as i64;
                    bad.push((i, BadRecord::new(chunk, i, offset, &reason)));
                }
            }
        }
        let schema = self.schema();
        let batch = concat_batches(&schema, &good)?;
        Ok((batch, Some(rows)))
    }
}

/// The declared type with nested STRUCT field names spelt as the sample JSON values spell them
/// (matched case-insensitively), so the JSON decoder finds them.
pub(crate) fn respell(declared: &DataType, samples: &[&serde_json::Value]) -> DataType {
    match declared {
        DataType::Decimal128(p, s) => wide_decimal(*p, *s),
        // JSON carries BYTES as base64 text (as ksqlDB writes them); decoded after reading.
        DataType::Binary => DataType::Utf8,
        DataType::Struct(fields) => {
            let keys: Vec<&String> = samples
                .iter()
                .filter_map(|v| v.as_object())
                .flat_map(|o| o.keys())
                .collect();
            let new_fields: Vec<Field> = fields
                .iter()
                .map(|f| {
                    let spelt = if keys.iter().any(|k| *k == f.name()) {
                        f.name().clone()
                    } else {
                        keys.iter()
                            .find(|k| k.eq_ignore_ascii_case(f.name()))
                            .map(|k| (*k).clone())
                            .unwrap_or_else(|| f.name().clone())
                    };
                    let inner: Vec<&serde_json::Value> = samples
                        .iter()
                        .filter_map(|v| v.as_object())
                        .filter_map(|o| o.get(&spelt))
                        .collect();
                    Field::new(spelt, respell(f.data_type(), &inner), f.is_nullable())
                })
                .collect();
            DataType::Struct(new_fields.into())
        }
        DataType::List(item) => {
            let inner: Vec<&serde_json::Value> = samples
                .iter()
                .filter_map(|v| v.as_array())
                .flatten()
                .take(100)
                .collect();
            DataType::List(Arc::new(Field::new(
                item.name(),
                respell(item.data_type(), &inner),
                item.is_nullable(),
            )))
        }
        DataType::Map(entries, sorted) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                let inner: Vec<&serde_json::Value> = samples
                    .iter()
                    .filter_map(|v| v.as_object())
                    .flat_map(|o| o.values())
                    .take(100)
                    .collect();
                let value = Field::new(
                    kv[1].name(),
                    respell(kv[1].data_type(), &inner),
                    kv[1].is_nullable(),
                );
                DataType::Map(
                    Arc::new(Field::new(
                        entries.name(),
                        DataType::Struct(vec![kv[0].as_ref().clone(), value].into()),
                        entries.is_nullable(),
                    )),
                    *sorted,
                )
            }
            _ => declared.clone(),
        },
        other => other.clone(),
    }
}

/// Bare JSON values (`WRAP_SINGLE_VALUE=false`) as one-field objects of column `name`.
fn wrap_chunk(chunk: &Chunk, name: &str) -> Chunk {
    let prefix = format!("{{{}:", serde_json::Value::from(name));
    let mut data = Vec::with_capacity(chunk.data.len() + chunk.lines.len() * (prefix.len() + 2));
    let mut lines = Vec::with_capacity(chunk.lines.len());
    for (i, &(_, _, number)) in chunk.lines.iter().enumerate() {
        let start = data.len();
        data.extend_from_slice(prefix.as_bytes());
        data.extend_from_slice(chunk.line(i));
        data.push(b'}');
        let end = data.len();
        data.push(b'\n');
        lines.push((start, end, number));
    }
    Chunk {
        data,
        lines,
        origin: Arc::clone(&chunk.origin),
        unterminated: chunk.unterminated.clone(),
    }
}

/// The schema a DELIMITED record is decoded with: temporal and BYTES columns are read as
/// text and converted by [`conform`] (ksqlDB writes TIMESTAMP, DATE and TIME as numbers,
/// BYTES as base64).
pub(crate) fn delimited_schema(declared: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = declared
        .fields()
        .iter()
        .map(|f| {
            let t = match f.data_type() {
                DataType::Timestamp(..)
                | DataType::Date32
                | DataType::Time32(_)
                | DataType::Binary => DataType::Utf8,
                DataType::Decimal128(p, s) => wide_decimal(*p, *s),
                other => other.clone(),
            };
            Field::new(f.name(), t, true)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// A temporal column from text: integers are the ksqlDB wire form (epoch milliseconds, days
/// since the epoch, milliseconds since midnight); other text is read as ISO 8601.
fn temporal_from_text(array: &ArrayRef, declared: &DataType) -> Result<ArrayRef> {
    let safe = arrow::compute::CastOptions {
        safe: true,
        ..Default::default()
    };
    let numbers = arrow::compute::cast_with_options(array, &DataType::Int64, &safe)?;
    let via = match declared {
        DataType::Timestamp(..) => DataType::Int64,
        _ => DataType::Int32,
    };
    let from_numbers = arrow::compute::cast_with_options(
        &arrow::compute::cast_with_options(&numbers, &via, &safe)?,
        declared,
        &safe,
    )?;
    let from_text = arrow::compute::cast_with_options(array, declared, &safe)?;
    let is_number = arrow::compute::is_not_null(&numbers)?;
    let out = arrow::compute::kernels::zip::zip(&is_number, &from_numbers, &from_text)?;
    if out.null_count() != array.null_count() {
        let strings = array.as_string::<i32>();
        let bad = (0..out.len())
            .find(|&i| out.is_null(i) && !array.is_null(i))
            .map(|i| strings.value(i))
            .unwrap_or_default();
        return Err(crate::error::Error::Execution(format!(
            "'{bad}' is not a {}",
            weir_planner::sql_type_name(declared)
        )));
    }
    Ok(out)
}

/// Gives a decoded array the declared type's field names (the inverse of [`respell`]).
/// Whether every non-finite DOUBLE in row `k` of `batch` was a JSON string in its record
/// (`"NaN"`, `"Infinity"`), not a number too large for a DOUBLE.
fn non_finite_as_text(line: &[u8], batch: &RecordBatch, k: usize) -> bool {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(line)
    else {
        return false;
    };
    batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .all(|(f, c)| {
            let non_finite = match c.data_type() {
                DataType::Float64 => {
                    let a = c.as_primitive::<arrow::datatypes::Float64Type>();
                    a.is_valid(k) && !a.value(k).is_finite()
                }
                _ => false,
            };
            !non_finite
                || map
                    .iter()
                    .any(|(key, v)| key.eq_ignore_ascii_case(f.name()) && v.is_string())
        })
}

/// The type a DECIMAL(p, s) column is read as: up to ten more decimal places (as many as
/// fit), so that a value that does not fit without rounding is seen, not truncated.
fn wide_decimal(p: u8, s: i8) -> DataType {
    let extra = 38u8.saturating_sub(p).min(10);
    DataType::Decimal128(38, s.saturating_add(extra as i8))
}

/// Wide DECIMAL values (see [`wide_decimal`]) as DECIMAL(p, s); an error names the first
/// value that does not fit without rounding.
fn narrow_decimal(array: &ArrayRef, p: u8, s: i8) -> Result<ArrayRef> {
    use arrow::datatypes::Decimal128Type;
    let DataType::Decimal128(_, wide) = array.data_type() else {
        return Ok(Arc::clone(array));
    };
    let wide = *wide;
    let values = array.as_primitive::<Decimal128Type>();
    let factor = 10i128.pow(u32::try_from(wide - s).unwrap_or(0));
    let limit = 10i128.pow(u32::from(p));
    let narrowed: arrow::array::Decimal128Array =
        values.unary(|v| if v % factor == 0 { v / factor } else { limit });
    let fits = |v: i128| v.abs() < limit;
    if let Some(r) = (0..narrowed.len()).find(|&r| narrowed.is_valid(r) && !fits(narrowed.value(r)))
    {
        let text = values.value_as_string(r);
        let text = text.trim_end_matches('0').trim_end_matches('.');
        return Err(crate::error::Error::Execution(format!(
            "Cannot fit decimal '{text}' into DECIMAL({p}, {s}) without rounding"
        )));
    }
    Ok(Arc::new(narrowed.with_precision_and_scale(p, s)?))
}

pub(crate) fn conform(array: ArrayRef, declared: &DataType) -> Result<ArrayRef> {
    if array.data_type() == declared {
        return Ok(array);
    }
    match (declared, array.data_type()) {
        (DataType::Decimal128(p, s), DataType::Decimal128(..)) => narrow_decimal(&array, *p, *s),
        (DataType::Timestamp(..) | DataType::Date32 | DataType::Time32(_), DataType::Utf8) => {
            temporal_from_text(&array, declared)
        }
        (DataType::Binary, DataType::Utf8) => {
            use base64::Engine as _;
            let strings = array.as_string::<i32>();
            let mut out = arrow::array::BinaryBuilder::with_capacity(
                strings.len(),
                strings.value_data().len(),
            );
            for v in strings.iter() {
                match v {
                    None => out.append_null(),
                    Some(text) => match base64::engine::general_purpose::STANDARD.decode(text) {
                        Ok(bytes) => out.append_value(bytes),
                        Err(e) => {
                            return Err(crate::error::Error::Execution(format!(
                                "BYTES value is not base64: {e}"
                            )))
                        }
                    },
                }
            }
            Ok(Arc::new(out.finish()))
        }
        (DataType::Struct(fields), DataType::Struct(_)) => {
            let s = array.as_struct();
            let children = s
                .columns()
                .iter()
                .zip(fields.iter())
                .map(|(c, f)| conform(Arc::clone(c), f.data_type()))
                .collect::<Result<Vec<_>>>()?;
            Ok(Arc::new(arrow::array::StructArray::try_new(
                fields.clone(),
                children,
                s.nulls().cloned(),
            )?))
        }
        (DataType::Map(entries, _), DataType::Map(_, _)) => {
            let m = array.as_map();
            let DataType::Struct(kv) = entries.data_type() else {
                return Ok(array);
            };
            let values = conform(Arc::clone(m.values()), kv[1].data_type())?;
            let entries_array = arrow::array::StructArray::try_new(
                kv.clone(),
                vec![Arc::clone(m.keys()), values],
                None,
            )?;
            Ok(Arc::new(arrow::array::MapArray::try_new(
                Arc::clone(entries),
                m.offsets().clone(),
                entries_array,
                m.nulls().cloned(),
                false,
            )?))
        }
        (DataType::List(item), DataType::List(_)) => {
            let l = array.as_list::<i32>();
            let values = conform(Arc::clone(l.values()), item.data_type())?;
            Ok(Arc::new(arrow::array::ListArray::try_new(
                Arc::clone(item),
                l.offsets().clone(),
                values,
                l.nulls().cloned(),
            )?))
        }
        _ => Ok(array),
    }
}

/// DELIMITED values: an empty field is NULL (as in ksqlDB).
fn empty_field() -> regex::Regex {
    static EMPTY: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    EMPTY
        .get_or_init(|| regex::Regex::new("^$").expect("a constant pattern compiles"))
        .clone()
}

/// The decoder's message without its prefix and its (always wrong, one-record) line numbers.
fn tidy_reason(e: &str) -> String {
    let mut m = e
        .trim_start_matches("Json error: ")
        .trim_start_matches("Parser error: ")
        .trim_start_matches("Csv error: ")
        .trim()
        .to_string();
    for marker in [" at line ", " for line "] {
        if let Some(i) = m.find(marker) {
            let rest = &m[i + marker.len()..];
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            let tail = rest[digits..].trim_start_matches('.').to_string();
            m = format!("{}{}", &m[..i], tail);
        }
    }
    m.trim().to_string()
}

/// The schema of the `DEAD_LETTERS` stream.
pub(crate) fn dead_letter_columns() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("SOURCE", DataType::Utf8, true),
        Field::new("LOCATION", DataType::Utf8, true),
        Field::new("REASON", DataType::Utf8, true),
        Field::new("RECORD", DataType::Utf8, true),
    ]))
}

/// One dead-letter row.
pub(crate) fn dead_letter_batch(
    schema: &SchemaRef,
    bad: &BadRecord,
    offset: i64,
) -> Result<RecordBatch> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![bad.stream.clone()])),
        Arc::new(StringArray::from(vec![bad.location.clone()])),
        Arc::new(StringArray::from(vec![bad.reason.clone()])),
        Arc::new(StringArray::from(vec![bad.record.clone()])),
        Arc::new(Int64Array::from(vec![now])),
        Arc::new(Int64Array::from(vec![offset])),
        Arc::new(BooleanArray::from(vec![false])),
    ];
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}
