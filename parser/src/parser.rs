//! The statement parser: tokenises once (keeping positions), normalises identifiers, splits
//! statements at `;`, parses Weir's own statements by hand and delegates queries and
//! expressions to sqlparser.

use std::ops::ControlFlow;

use sqlparser::ast::{visit_expressions_mut, VisitMut};
use sqlparser::ast::{
    BinaryOperator, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
    FunctionArguments, Ident, ObjectName, SelectItem, SetExpr, Value,
};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use crate::ast::*;
use crate::{KsqlDialect, ParseError, Position};

type Result<T> = std::result::Result<T, ParseError>;

/// Parses a script of `;`-terminated statements. A final statement may omit its `;`.
///
/// Unquoted identifiers are upper-cased (as ksqlDB does); quoted ones (`"x"` or `` `x` ``)
/// keep their case.
///
/// ```
/// let stmts = weir_parser::parse("CREATE STREAM s (id INT KEY, v DOUBLE) WITH (PATH='x.jsonl');\
///                                 SELECT id, v * 2 FROM s WHERE v > 1 EMIT CHANGES;")?;
/// assert_eq!(stmts.len(), 2);
/// # Ok::<(), weir_parser::ParseError>(())
/// ```
pub fn parse(sql: &str) -> Result<Vec<Statement>> {
    let tokens = tokenize(sql)?;
    let mut out = Vec::new();
    for group in tokens.split(|t| t.token == Token::SemiColon) {
        if group.is_empty() {
            continue;
        }
        out.push(parse_one(sql, group)?);
    }
    Ok(out)
}

/// Tokenises, drops whitespace and comments, and upper-cases unquoted words.
fn tokenize(sql: &str) -> Result<Vec<TokenWithSpan>> {
    let dialect = KsqlDialect;
    let raw = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| {
            let pos =
                (e.location.line > 0).then(|| Position::new(e.location.line, e.location.column));
            ParseError::new(e.message, pos)
        })?;
    let tokens: Vec<TokenWithSpan> = raw
        .into_iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .map(|mut t| {
            if let Token::Word(w) = &mut t.token {
                if w.quote_style.is_none() {
                    w.value = w.value.to_uppercase();
                }
            }
            t
        })
        .collect();
    check_numbers(&tokens)?;
    cast_types(join_lambda_parameters(tokens))
}

/// Number literals must fit their type: a whole number a BIGINT (`-9223372036854775808`
/// included), a number with an exponent a DOUBLE.
fn check_numbers(tokens: &[TokenWithSpan]) -> Result<()> {
    for (i, t) in tokens.iter().enumerate() {
        let Token::Number(n, _) = &t.token else {
            continue;
        };
        let negative = i > 0 && tokens[i - 1].token == Token::Minus;
        let message = if n.bytes().all(|b| b.is_ascii_digit()) {
            let digits = n.trim_start_matches('0');
            let fits = digits.parse::<i64>().is_ok()
                || (negative && digits == "9223372036854775808")
                || digits.is_empty();
            (!fits).then(|| format!("Invalid numeric literal: {n}"))
        } else if n.contains(['e', 'E']) {
            n.parse::<f64>()
                .is_ok_and(f64::is_infinite)
                .then(|| format!("Number overflows DOUBLE: {n}"))
        } else {
            None
        };
        if let Some(message) = message {
            return Err(ParseError::new(message, pos_of(t)).with_suggestion(
                "a larger number is a DECIMAL: write it with a decimal point (9223372036854775808.0)",
            ));
        }
    }
    Ok(())
}

/// Marks a nested type written in a `CAST` (`CAST(m AS MAP<STRING, INT>)`): sqlparser reads
/// no ksqlDB MAP or STRUCT type, so the type is parsed here, with the DDL's grammar, and
/// handed on as one quoted name that [`cast_type`] reads back.
const CAST_TYPE: char = '\u{1d}';

/// `AS ARRAY<...>`, `AS MAP<...>` and `AS STRUCT<...>` (only a type follows `AS` with `<`)
/// become one name holding the type's text.
fn cast_types(tokens: Vec<TokenWithSpan>) -> Result<Vec<TokenWithSpan>> {
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let nested = is_word(&tokens[i], "ARRAY")
            || is_word(&tokens[i], "MAP")
            || is_word(&tokens[i], "STRUCT");
        let after_as = out.last().is_some_and(|t| is_word(t, "AS"));
        if nested && after_as && tokens.get(i + 1).is_some_and(|t| t.token == Token::Lt) {
            let mut c = Cursor::new(&tokens[i..]);
            let ty = parse_type(&mut c)?;
            let end = i + c.pos.max(1);
            out.push(TokenWithSpan::new(
                Token::Word(sqlparser::tokenizer::Word {
                    value: format!("{CAST_TYPE}{ty}"),
                    quote_style: Some('`'),
                    keyword: sqlparser::keywords::Keyword::NoKeyword,
                }),
                tokens[i].span.union(&tokens[end - 1].span),
            ));
            i = end;
            continue;
        }
        out.push(tokens[i].clone());
        i += 1;
    }
    Ok(out)
}

/// The type a `CAST` names, when sqlparser read it as the custom type `name` (see
/// `cast_types`); `None` for any other name.
pub fn cast_type(name: &str) -> Option<Result<SqlType>> {
    let text = name.strip_prefix(CAST_TYPE)?;
    let tokens = match tokenize(text) {
        Ok(t) => t,
        Err(e) => return Some(Err(e)),
    };
    let mut c = Cursor::new(&tokens);
    Some(parse_type(&mut c).and_then(|t| c.expect_end().map(|()| t)))
}

/// The field name `s->*` (every field of STRUCT `s`) is parsed with, as `get_field(s, ...)`;
/// the planner expands it into one column per field.
pub const ALL_FIELDS: &str = "\u{1e}ALL_FIELDS";

/// Joins the names of lambda parameters.
const LAMBDA_PARAMETERS: char = '\u{1f}';

/// ksqlDB's lambdas are `x => body` and `(x, y) => body`. sqlparser reads the first as a
/// named function argument; the parenthesised list is joined into one name here (split
/// again when the argument becomes a lambda, see `lambda_arguments`).
fn join_lambda_parameters(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        // An alias may start with a digit (`AS 1R`): the number and the word touching it are
        // one identifier.
        if let (Token::Number(n, _), Some(next)) = (&tokens[i].token, tokens.get(i + 1)) {
            let after_as = out
                .last()
                .is_some_and(|t| matches!(&t.token, Token::Word(w) if w.value == "AS"));
            if let (true, Token::Word(w)) = (after_as, &next.token) {
                if w.quote_style.is_none() && next.span.start == tokens[i].span.end {
                    out.push(TokenWithSpan::new(
                        Token::make_word(&format!("{n}{}", w.value), None),
                        tokens[i].span.union(&next.span),
                    ));
                    i += 2;
                    continue;
                }
            }
        }
        // `s->*`: every field of a STRUCT.
        if tokens[i].token == Token::Mul
            && out
                .last()
                .is_some_and(|t: &TokenWithSpan| t.token == Token::Arrow)
        {
            out.push(TokenWithSpan::new(
                Token::make_word(ALL_FIELDS, None),
                tokens[i].span,
            ));
            i += 1;
            continue;
        }
        if tokens[i].token == Token::LParen {
            // ( W , W ... ) =>
            let mut names = Vec::new();
            let mut j = i + 1;
            while let Some(Token::Word(w)) = tokens.get(j).map(|t| &t.token) {
                names.push(w.value.clone());
                match tokens.get(j + 1).map(|t| &t.token) {
                    Some(Token::Comma) => j += 2,
                    Some(Token::RParen) => {
                        j += 2;
                        break;
                    }
                    _ => {
                        names.clear();
                        break;
                    }
                }
            }
            if !names.is_empty() && tokens.get(j).map(|t| &t.token) == Some(&Token::RArrow) {
                let joined: String = names.join(&LAMBDA_PARAMETERS.to_string());
                out.push(TokenWithSpan::new(
                    Token::make_word(&joined, None),
                    tokens[i].span.union(&tokens[j - 1].span),
                ));
                i = j;
                continue;
            }
        }
        out.push(tokens[i].clone());
        i += 1;
    }
    out
}

/// A function's `x => body` arguments (named arguments to sqlparser) as lambdas.
fn lambda_arguments(f: &mut Function) {
    use sqlparser::ast::{
        FunctionArgOperator, LambdaFunction, LambdaFunctionParameter, LambdaSyntax,
        OneOrManyWithParens,
    };
    let FunctionArguments::List(list) = &mut f.args else {
        return;
    };
    for arg in &mut list.args {
        let FunctionArg::Named {
            name,
            arg: FunctionArgExpr::Expr(body),
            operator: FunctionArgOperator::RightArrow,
        } = arg
        else {
            continue;
        };
        let params: Vec<LambdaFunctionParameter> = name
            .value
            .split(LAMBDA_PARAMETERS)
            .map(|n| LambdaFunctionParameter {
                // Quoted, so the planner takes the name as written (upper-cased like every
                // unquoted word), as it takes the parameter's uses in the body.
                name: Ident::with_quote('"', n),
                data_type: None,
            })
            .collect();
        let params = match <[LambdaFunctionParameter; 1]>::try_from(params) {
            Ok([one]) => OneOrManyWithParens::One(one),
            Err(many) => OneOrManyWithParens::Many(many),
        };
        let mut body = std::mem::replace(body, Expr::value(Value::Null));
        // `ARRAY[...]` in a lambda is `MAKE_ARRAY(...)`: DataFusion plans an array literal's
        // elements without the lambda's parameters in scope, a function's arguments with them.
        let _ = visit_expressions_mut(&mut body, |e| {
            if let Expr::Array(array) = e {
                if !array.elem.is_empty() {
                    *e = call("make_array", std::mem::take(&mut array.elem));
                }
            }
            ControlFlow::<()>::Continue(())
        });
        *arg = FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Lambda(LambdaFunction {
            params,
            body: Box::new(body),
            syntax: LambdaSyntax::Arrow,
        })));
    }
}

/// The position just after a token (where "end of statement" errors point).
fn end_pos(t: &TokenWithSpan) -> Position {
    Position::new(t.span.end.line, t.span.end.column)
}

fn pos_of(t: &TokenWithSpan) -> Option<Position> {
    Position::from_span(t.span)
}

/// The source text covered by `tokens`.
fn text_of(sql: &str, tokens: &[TokenWithSpan]) -> String {
    let (Some(first), Some(last)) = (tokens.first(), tokens.last()) else {
        return String::new();
    };
    let start = char_offset(sql, first.span.start.line, first.span.start.column);
    let end = char_offset(sql, last.span.end.line, last.span.end.column);
    match (start, end) {
        (Some(s), Some(e)) if s <= e => sql[s..e].to_string(),
        _ => tokens
            .iter()
            .map(|t| t.token.to_string())
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Byte offset of a 1-based (line, column-in-chars) location.
fn char_offset(sql: &str, line: u64, column: u64) -> Option<usize> {
    let mut offset = 0usize;
    for (i, l) in sql.split_inclusive('\n').enumerate() {
        if i as u64 + 1 == line {
            let col = column.saturating_sub(1) as usize;
            let within = l.char_indices().nth(col).map(|(b, _)| b).unwrap_or(l.len());
            return Some(offset + within);
        }
        offset += l.len();
    }
    (line as usize > sql.split_inclusive('\n').count()).then_some(sql.len())
}

/// A cursor over one statement's tokens for the hand-written parts of the grammar.
struct Cursor<'a> {
    tokens: &'a [TokenWithSpan],
    pos: usize,
    /// Half of a `>>` token already used to close a nested type.
    pending_gt: bool,
}

impl<'a> Cursor<'a> {
    fn new(tokens: &'a [TokenWithSpan]) -> Self {
        Self {
            tokens,
            pos: 0,
            pending_gt: false,
        }
    }

    fn peek(&self) -> Option<&'a TokenWithSpan> {
        self.tokens.get(self.pos)
    }

    fn peek_nth(&self, n: usize) -> Option<&'a TokenWithSpan> {
        self.tokens.get(self.pos + n)
    }

    fn rest(&self) -> &'a [TokenWithSpan] {
        &self.tokens[self.pos.min(self.tokens.len())..]
    }

    fn position(&self) -> Option<Position> {
        self.peek().or_else(|| self.tokens.last()).and_then(pos_of)
    }

    fn is_word(&self, n: usize, word: &str) -> bool {
        self.peek_nth(n).is_some_and(|t| is_word(t, word))
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if self.is_word(0, word) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_words(&mut self, words: &[&str]) -> bool {
        if words.iter().enumerate().all(|(i, w)| self.is_word(i, w)) {
            self.pos += words.len();
            true
        } else {
            false
        }
    }

    fn expect_word(&mut self, word: &str) -> Result<()> {
        if self.eat_word(word) {
            Ok(())
        } else {
            Err(self.unexpected(word))
        }
    }

    fn eat(&mut self, token: &Token) -> bool {
        if self.peek().is_some_and(|t| &t.token == token) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: &Token) -> Result<()> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(self.unexpected(&token.to_string()))
        }
    }

    fn unexpected(&self, expected: &str) -> ParseError {
        match self.peek() {
            Some(t) => {
                ParseError::new(format!("expected {expected}, found {}", t.token), pos_of(t))
            }
            None => ParseError::new(
                format!("expected {expected}, found end of statement"),
                self.tokens.last().map(end_pos),
            ),
        }
    }

    fn name(&mut self) -> Result<Name> {
        match self.peek() {
            Some(t) => match &t.token {
                Token::Word(w) => {
                    self.pos += 1;
                    Ok(Name {
                        value: w.value.clone(),
                        position: pos_of(t),
                    })
                }
                _ => Err(self.unexpected("a name")),
            },
            None => Err(self.unexpected("a name")),
        }
    }

    fn string(&mut self) -> Result<String> {
        match self.peek().map(|t| &t.token) {
            Some(Token::SingleQuotedString(s)) | Some(Token::DoubleQuotedString(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.unexpected("a quoted string")),
        }
    }

    fn number(&mut self) -> Result<i64> {
        match self.peek().map(|t| &t.token) {
            Some(Token::Number(n, _)) => {
                let value = n.parse().map_err(|_| {
                    ParseError::new(format!("'{n}' is not a whole number"), self.position())
                })?;
                self.pos += 1;
                Ok(value)
            }
            _ => Err(self.unexpected("a number")),
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.tokens.len()
    }

    fn expect_end(&self) -> Result<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err(self.unexpected("end of statement"))
        }
    }
}

fn is_word(t: &TokenWithSpan, word: &str) -> bool {
    matches!(&t.token, Token::Word(w) if w.quote_style.is_none() && w.value == word)
}

fn parse_one(sql: &str, tokens: &[TokenWithSpan]) -> Result<Statement> {
    let position = pos_of(&tokens[0]).unwrap_or(Position::new(1, 1));
    let mut c = Cursor::new(tokens);
    let kind = if c.is_word(0, "CREATE") {
        parse_create(&mut c)?
    } else if c.is_word(0, "INSERT") {
        parse_insert(&mut c)?
    } else if c.is_word(0, "SELECT")
        || c.is_word(0, "WITH")
        || c.peek().is_some_and(|t| t.token == Token::LParen)
    {
        StatementKind::Query(parse_stream_query(c.rest())?)
    } else if c.eat_word("DROP") {
        parse_drop(&mut c)?
    } else if c.eat_word("ALTER") {
        parse_alter(&mut c)?
    } else if c.eat_word("SPLIT") {
        parse_split(&mut c)?
    } else if c.eat_word("SHOW") || c.eat_word("LIST") {
        parse_show(&mut c)?
    } else if c.eat_word("DESCRIBE") || c.eat_word("DESC") {
        if c.eat_word("FUNCTION") {
            let name = c.name()?;
            c.expect_end()?;
            StatementKind::DescribeFunction(name)
        } else {
            let extended = c.eat_word("EXTENDED");
            let name = c.name()?;
            c.expect_end()?;
            StatementKind::Describe { name, extended }
        }
    } else if c.eat_word("EXPLAIN") {
        let inner = c.rest();
        if inner.is_empty() {
            return Err(c.unexpected("a statement to explain"));
        }
        // `EXPLAIN CSAS_OUT_1`: a query id, not a statement.
        let statement_words = [
            "SELECT", "CREATE", "INSERT", "SPLIT", "WITH", "DROP", "SHOW", "DESCRIBE",
        ];
        match inner {
            [t] if matches!(&t.token, Token::Word(w)
                if !statement_words.contains(&w.value.to_uppercase().as_str())) =>
            {
                StatementKind::ExplainQuery(c.name()?)
            }
            _ => StatementKind::Explain(Box::new(parse_one(sql, inner)?)),
        }
    } else if c.eat_word("SET") {
        let name = c.string()?;
        c.expect(&Token::Eq)?;
        let value = c.string()?;
        c.expect_end()?;
        StatementKind::Set { name, value }
    } else if c.eat_word("UNSET") {
        let name = c.string()?;
        c.expect_end()?;
        StatementKind::Unset(name)
    } else if c.eat_word("TERMINATE") {
        let target = if c.eat_word("ALL") {
            None
        } else {
            Some(c.name()?.value)
        };
        c.expect_end()?;
        StatementKind::Terminate(target)
    } else {
        let found = tokens[0].token.to_string();
        let err = ParseError::new(
            format!("unknown statement starting with '{found}'"),
            Some(position),
        );
        let keywords = [
            "CREATE",
            "SELECT",
            "INSERT",
            "DROP",
            "ALTER",
            "SPLIT",
            "SHOW",
            "LIST",
            "DESCRIBE",
            "EXPLAIN",
            "SET",
            "UNSET",
            "TERMINATE",
        ];
        return Err(match crate::closest_match(&found, keywords) {
            Some(k) => err.with_suggestion(format!("did you mean {k}?")),
            None => err.with_suggestion(format!(
                "statements start with one of {}",
                keywords.join(", ")
            )),
        });
    };
    Ok(Statement {
        kind,
        position,
        text: text_of(sql, tokens),
    })
}

fn parse_create(c: &mut Cursor<'_>) -> Result<StatementKind> {
    c.expect_word("CREATE")?;
    if c.eat_word("TYPE") {
        let if_not_exists = c.eat_words(&["IF", "NOT", "EXISTS"]);
        let name = c.name()?;
        c.expect_word("AS")?;
        let data_type = parse_type(c)?;
        c.expect_end()?;
        return Ok(StatementKind::CreateType {
            name,
            data_type,
            if_not_exists,
        });
    }
    let or_replace = c.eat_words(&["OR", "REPLACE"]);
    if or_replace && c.is_word(0, "TYPE") {
        return Err(ParseError::new(
            "CREATE OR REPLACE TYPE is not supported: DROP TYPE it first (columns already declared keep their type)",
            c.position(),
        ));
    }
    let read_only = c.eat_word("SOURCE");
    let kind = if c.eat_word("STREAM") {
        SourceKind::Stream
    } else if c.eat_word("TABLE") {
        SourceKind::Table
    } else {
        return Err(c.unexpected("STREAM, TABLE or TYPE"));
    };
    let if_not_exists = c.eat_words(&["IF", "NOT", "EXISTS"]);
    let name = c.name()?;
    let columns = if c.peek().is_some_and(|t| t.token == Token::LParen) {
        parse_columns(c)?
    } else {
        Vec::new()
    };
    let with = if c.eat_word("WITH") {
        parse_with(c)?
    } else {
        WithOptions::default()
    };
    if c.eat_word("AS") {
        if !columns.is_empty() {
            return Err(ParseError::new(
                "CREATE ... AS SELECT takes its columns from the query; remove the column list",
                name.position,
            ));
        }
        let query = parse_stream_query(c.rest())?;
        return Ok(StatementKind::CreateAs(CreateAs {
            kind,
            name,
            or_replace,
            if_not_exists,
            with,
            query,
        }));
    }
    c.expect_end()?;
    Ok(StatementKind::CreateSource(CreateSource {
        kind,
        name,
        or_replace,
        if_not_exists,
        read_only,
        columns,
        with,
    }))
}

fn parse_columns(c: &mut Cursor<'_>) -> Result<Vec<ColumnDef>> {
    c.expect(&Token::LParen)?;
    let mut columns = Vec::new();
    loop {
        let name = c.name()?;
        let data_type = parse_type(c)?;
        let key = if c.eat_words(&["PRIMARY", "KEY"]) {
            KeyKind::PrimaryKey
        } else if c.eat_word("KEY") {
            KeyKind::Key
        } else {
            KeyKind::None
        };
        columns.push(ColumnDef {
            name,
            data_type,
            key,
        });
        if c.eat(&Token::Comma) {
            continue;
        }
        c.expect(&Token::RParen)?;
        return Ok(columns);
    }
}

/// Parses a ksqlDB type: `INT`, `DECIMAL(10, 2)`, `ARRAY<T>`, `MAP<K, V>`, `STRUCT<a T, ...>`.
fn parse_type(c: &mut Cursor<'_>) -> Result<SqlType> {
    let start = c.position();
    let (word, quoted) = match c.peek().map(|t| &t.token) {
        Some(Token::Word(w)) if w.quote_style.is_some() => (w.value.clone(), true),
        Some(Token::Word(w)) => (w.value.to_uppercase(), false),
        _ => return Err(c.unexpected("a type")),
    };
    if quoted {
        c.pos += 1;
        // (`AS STRUCT<...>` reads as one word, as in a CAST: see `cast_types`.)
        if let Some(parsed) = cast_type(&word) {
            return parsed;
        }
        return Ok(SqlType::Custom(word));
    }
    c.pos += 1;
    let ty = match word.as_str() {
        "BOOLEAN" | "BOOL" => SqlType::Boolean,
        "INT" | "INTEGER" => SqlType::Int,
        "BIGINT" => SqlType::Bigint,
        "DOUBLE" => SqlType::Double,
        "STRING" | "VARCHAR" | "TEXT" => {
            if c.eat(&Token::LParen) {
                c.number()?;
                c.expect(&Token::RParen)?;
            }
            SqlType::String
        }
        "TIMESTAMP" => SqlType::Timestamp,
        "DATE" => SqlType::Date,
        "TIME" => SqlType::Time,
        "BYTES" => SqlType::Bytes,
        "DECIMAL" | "NUMERIC" => {
            c.expect(&Token::LParen)?;
            let p = c.number()?;
            c.expect(&Token::Comma)?;
            let s = c.number()?;
            c.expect(&Token::RParen)?;
            if !(1..=38).contains(&p) || s < 0 || s > p {
                return Err(ParseError::new(
                    format!("DECIMAL({p}, {s}) is invalid: precision must be 1..38 and scale 0..precision"),
                    start,
                ));
            }
            SqlType::Decimal(p as u8, s as i8)
        }
        "ARRAY" => {
            c.expect(&Token::Lt)?;
            let inner = parse_type(c)?;
            expect_close_angle(c)?;
            SqlType::Array(Box::new(inner))
        }
        "MAP" => {
            c.expect(&Token::Lt)?;
            let k = parse_type(c)?;
            c.expect(&Token::Comma)?;
            let v = parse_type(c)?;
            expect_close_angle(c)?;
            SqlType::Map(Box::new(k), Box::new(v))
        }
        "STRUCT" => {
            c.expect(&Token::Lt)?;
            let mut fields = Vec::new();
            if !c.eat(&Token::Gt) {
                loop {
                    let name = c.name()?;
                    if fields.iter().any(|(n, _)| *n == name.value) {
                        return Err(ParseError::new(
                            format!("Duplicate field names found in STRUCT: '{}'", name.value),
                            name.position,
                        ));
                    }
                    let t = parse_type(c)?;
                    fields.push((name.value, t));
                    // (After a nested type closed by `>>`, this struct is closed too.)
                    if !c.pending_gt && c.eat(&Token::Comma) {
                        continue;
                    }
                    expect_close_angle(c)?;
                    break;
                }
            }
            SqlType::Struct(fields)
        }
        // A type registered with CREATE TYPE (or no type: said when the statement runs).
        "KEY" | "PRIMARY" => {
            return Err(ParseError::new(
                format!("Syntax error at or near '{word}': expected a type"),
                start,
            ))
        }
        other => SqlType::Custom(other.to_string()),
    };
    Ok(ty)
}

/// `>` closing a type; `>>` (two nested types closing at once) closes two.
fn expect_close_angle(c: &mut Cursor<'_>) -> Result<()> {
    if c.pending_gt {
        c.pending_gt = false;
        return Ok(());
    }
    if c.eat(&Token::Gt) {
        return Ok(());
    }
    if c.eat(&Token::ShiftRight) {
        c.pending_gt = true;
        return Ok(());
    }
    Err(c.unexpected(">"))
}

fn parse_with(c: &mut Cursor<'_>) -> Result<WithOptions> {
    c.expect(&Token::LParen)?;
    let mut opts = Vec::new();
    loop {
        let position = c.position();
        let key = match c.peek().map(|t| &t.token) {
            Some(Token::Word(w)) => w.value.to_uppercase(),
            Some(Token::SingleQuotedString(s)) => s.to_uppercase(),
            _ => return Err(c.unexpected("a property name")),
        };
        c.pos += 1;
        c.expect(&Token::Eq)?;
        let value = match c.peek().map(|t| &t.token) {
            Some(Token::SingleQuotedString(s)) => OptionValue::String(s.clone()),
            Some(Token::Number(n, _)) => OptionValue::Number(n.clone()),
            Some(Token::Word(w)) => OptionValue::Word(w.value.clone()),
            _ => return Err(c.unexpected("a property value")),
        };
        c.pos += 1;
        if opts.iter().any(|o: &WithOption| o.key == key) {
            return Err(ParseError::new(
                format!("property {key} is given twice"),
                position,
            ));
        }
        opts.push(WithOption {
            key,
            value,
            position,
        });
        if c.eat(&Token::Comma) {
            continue;
        }
        c.expect(&Token::RParen)?;
        return Ok(WithOptions(opts));
    }
}

fn parse_insert(c: &mut Cursor<'_>) -> Result<StatementKind> {
    c.expect_word("INSERT")?;
    c.expect_word("INTO")?;
    let target = c.name()?;
    let mut columns = Vec::new();
    if c.peek().is_some_and(|t| t.token == Token::LParen)
        && !c.is_word(1, "SELECT")
        && !c.is_word(1, "WITH")
    {
        c.expect(&Token::LParen)?;
        loop {
            columns.push(c.name()?);
            if c.eat(&Token::Comma) {
                continue;
            }
            c.expect(&Token::RParen)?;
            break;
        }
    }
    if c.eat_word("VALUES") {
        let dialect = KsqlDialect;
        let mut parser = Parser::new(&dialect).with_tokens_with_locations(c.rest().to_vec());
        let mut rows = Vec::new();
        loop {
            parser
                .expect_token(&Token::LParen)
                .map_err(ParseError::from_sqlparser)?;
            let mut row = parser
                .parse_comma_separated(Parser::parse_expr)
                .map_err(ParseError::from_sqlparser)?;
            // STRUCT(a := 1), MAP('k' := 1), a->b as in queries.
            for e in &mut row {
                rewrite_expr(e);
            }
            parser
                .expect_token(&Token::RParen)
                .map_err(ParseError::from_sqlparser)?;
            rows.push(row);
            if !parser.consume_token(&Token::Comma) {
                break;
            }
        }
        expect_parser_end(&parser)?;
        return Ok(StatementKind::InsertValues {
            target,
            columns,
            rows,
        });
    }
    if !columns.is_empty() {
        return Err(c.unexpected("VALUES"));
    }
    if c.eat_word("WITH") && c.peek().is_some_and(|t| t.token == Token::LParen) {
        // `INSERT INTO s WITH (QUERY_ID='...') SELECT`: properties of the query.
        parse_with(c)?;
    }
    let query = parse_stream_query(c.rest())?;
    Ok(StatementKind::InsertSelect { target, query })
}

fn parse_drop(c: &mut Cursor<'_>) -> Result<StatementKind> {
    if c.eat_word("TYPE") {
        let if_exists = c.eat_words(&["IF", "EXISTS"]);
        let name = c.name()?;
        c.expect_end()?;
        return Ok(StatementKind::DropType { name, if_exists });
    }
    let kind = if c.eat_word("STREAM") {
        SourceKind::Stream
    } else if c.eat_word("TABLE") {
        SourceKind::Table
    } else {
        return Err(c.unexpected("STREAM, TABLE or TYPE"));
    };
    let if_exists = c.eat_words(&["IF", "EXISTS"]);
    let name = c.name()?;
    let delete_topic = c.eat_words(&["DELETE", "TOPIC"]);
    c.expect_end()?;
    Ok(StatementKind::Drop {
        kind,
        name,
        if_exists,
        delete_topic,
    })
}

/// `SPLIT source INTO a [WITH (...)] WHERE cond INTO b WHERE cond ... [INTO rest [WITH (...)]]`.
fn parse_split(c: &mut Cursor<'_>) -> Result<StatementKind> {
    let source = c.name()?;
    let mut branches: Vec<SplitBranch> = Vec::new();
    while c.peek().is_some() {
        if !c.eat_word("INTO") {
            return Err(c.unexpected("INTO stream [WHERE condition]"));
        }
        let name = c.name()?;
        let with = if c.eat_word("WITH") {
            parse_with(c)?
        } else {
            WithOptions::default()
        };
        let condition = if c.eat_word("WHERE") {
            // The condition runs to the next top-level INTO.
            let rest = c.rest();
            let mut depth = 0i32;
            let mut end = 0;
            while end < rest.len() {
                match rest[end].token {
                    Token::LParen => depth += 1,
                    Token::RParen => depth -= 1,
                    _ => {}
                }
                if depth == 0 && is_word(&rest[end], "INTO") {
                    break;
                }
                end += 1;
            }
            if end == 0 {
                return Err(c.unexpected("a condition after WHERE"));
            }
            let dialect = KsqlDialect;
            let mut parser = Parser::new(&dialect).with_tokens_with_locations(rest[..end].to_vec());
            let mut e = parser.parse_expr().map_err(ParseError::from_sqlparser)?;
            expect_parser_end(&parser)?;
            rewrite_expr(&mut e);
            c.pos += end;
            Some(e)
        } else {
            None
        };
        if let Some(last) = branches.last() {
            if last.condition.is_none() {
                return Err(ParseError::new(
                    format!(
                        "branch {} has no WHERE, so it takes every remaining event: it must be the last",
                        last.name
                    ),
                    last.name.position,
                ));
            }
        }
        branches.push(SplitBranch {
            name,
            with,
            condition,
        });
    }
    if branches.is_empty() {
        return Err(c.unexpected("INTO stream WHERE condition"));
    }
    Ok(StatementKind::Split { source, branches })
}

/// `ALTER STREAM|TABLE name ADD [COLUMN] c TYPE [, ADD [COLUMN] c TYPE ...]`.
fn parse_alter(c: &mut Cursor<'_>) -> Result<StatementKind> {
    let kind = if c.eat_word("STREAM") {
        SourceKind::Stream
    } else if c.eat_word("TABLE") {
        SourceKind::Table
    } else {
        return Err(c.unexpected("STREAM or TABLE"));
    };
    let name = c.name()?;
    let mut columns = Vec::new();
    loop {
        if !c.eat_word("ADD") {
            return Err(c.unexpected("ADD [COLUMN] name TYPE"));
        }
        c.eat_word("COLUMN");
        let column = c.name()?;
        let data_type = parse_type(c)?;
        columns.push(ColumnDef {
            name: column,
            data_type,
            key: KeyKind::None,
        });
        if !c.eat(&Token::Comma) {
            break;
        }
    }
    c.expect_end()?;
    Ok(StatementKind::Alter {
        kind,
        name,
        columns,
    })
}

fn parse_show(c: &mut Cursor<'_>) -> Result<StatementKind> {
    let kind = match c.peek().map(|t| t.token.to_string().to_uppercase()) {
        Some(w) if w == "STREAMS" => ShowKind::Streams,
        Some(w) if w == "TABLES" => ShowKind::Tables,
        Some(w) if w == "QUERIES" => ShowKind::Queries,
        Some(w) if w == "PROPERTIES" => ShowKind::Properties,
        Some(w) if w == "FUNCTIONS" => ShowKind::Functions,
        Some(w) if w == "ASSIGNMENTS" => ShowKind::Assignments,
        Some(w) if w == "TYPES" => ShowKind::Types,
        Some(w) if w == "TOPICS" => ShowKind::Topics,
        _ => {
            return Err(c.unexpected(
                "STREAMS, TABLES, QUERIES, PROPERTIES, FUNCTIONS, TYPES, TOPICS or ASSIGNMENTS",
            ))
        }
    };
    c.pos += 1;
    c.eat_word("EXTENDED");
    c.expect_end()?;
    Ok(StatementKind::Show(kind))
}

/// Splits ksqlDB's `WINDOW`, `PARTITION BY` and `EMIT` clauses out of a query's tokens and
/// hands the rest to sqlparser.
pub(crate) fn parse_stream_query(tokens: &[TokenWithSpan]) -> Result<StreamQuery> {
    let position = tokens
        .first()
        .and_then(pos_of)
        .unwrap_or(Position::new(1, 1));
    let mut rest = Vec::with_capacity(tokens.len());
    let mut partition_by = Vec::new();
    let mut window = None;
    let mut emit = None;
    let mut within = Vec::new();
    let mut joins = 0usize;
    let mut depth = 0i32;
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            _ => {}
        }
        let next_is = |n: usize, w: &str| tokens.get(i + n).is_some_and(|t| is_word(t, w));
        if depth == 0
            && is_word(t, "WINDOW")
            && ["TUMBLING", "HOPPING", "SESSION"]
                .iter()
                .any(|w| next_is(1, w))
        {
            let end = matching_paren(tokens, i + 2)?;
            if window.is_some() {
                return Err(ParseError::new(
                    "a query can have only one WINDOW clause",
                    pos_of(t),
                ));
            }
            window = Some(parse_window(&tokens[i..=end])?);
            i = end + 1;
            continue;
        }
        // `WINDOW TUMBLNG (...)`: a misspelt window type.
        if depth == 0 && is_word(t, "WINDOW") {
            if let Some(Token::Word(w)) = tokens.get(i + 1).map(|t| &t.token) {
                let kinds = ["TUMBLING", "HOPPING", "SESSION"];
                let lparen = tokens.get(i + 2).is_some_and(|t| t.token == Token::LParen);
                if lparen && !kinds.contains(&w.value.to_uppercase().as_str()) {
                    let err = ParseError::new(
                        format!("unknown window type '{}'", w.value),
                        tokens.get(i + 1).and_then(pos_of),
                    );
                    return Err(match crate::closest_match(&w.value.to_uppercase(), kinds) {
                        Some(k) => err.with_suggestion(format!("did you mean {k}?")),
                        None => err.with_suggestion("windows are TUMBLING, HOPPING or SESSION"),
                    });
                }
            }
        }
        if depth == 0 && is_word(t, "PARTITION") && next_is(1, "BY") {
            let start = i + 2;
            let mut end = start;
            let mut d = 0i32;
            while end < tokens.len() {
                match tokens[end].token {
                    Token::LParen => d += 1,
                    Token::RParen => d -= 1,
                    _ => {}
                }
                if d == 0
                    && ["EMIT", "LIMIT", "HAVING"]
                        .iter()
                        .any(|w| is_word(&tokens[end], w))
                {
                    break;
                }
                end += 1;
            }
            if start == end {
                return Err(ParseError::new(
                    "PARTITION BY needs at least one expression",
                    pos_of(t),
                ));
            }
            let dialect = KsqlDialect;
            let mut parser =
                Parser::new(&dialect).with_tokens_with_locations(tokens[start..end].to_vec());
            partition_by = parser
                .parse_comma_separated(Parser::parse_expr)
                .map_err(ParseError::from_sqlparser)?;
            expect_parser_end(&parser)?;
            i = end;
            continue;
        }
        if depth == 0 && is_word(t, "JOIN") {
            joins += 1;
        }
        if depth == 0 && is_word(t, "WITHIN") {
            // `WITHIN n unit | WITHIN (before, after)` [GRACE PERIOD n unit], before `ON`.
            let mut end = i + 1;
            let mut d = 0i32;
            while end < tokens.len() {
                match tokens[end].token {
                    Token::LParen => d += 1,
                    Token::RParen => d -= 1,
                    _ => {}
                }
                if d == 0 && is_word(&tokens[end], "ON") {
                    break;
                }
                end += 1;
            }
            let mut clause = parse_within(&tokens[i..end])?;
            clause.join = joins.saturating_sub(1);
            within.push(clause);
            i = end;
            continue;
        }
        if depth == 0 && is_word(t, "EMIT") {
            emit = Some(if next_is(1, "CHANGES") {
                Emit::Changes
            } else if next_is(1, "FINAL") {
                Emit::Final
            } else {
                return Err(ParseError::new(
                    "expected CHANGES or FINAL after EMIT",
                    pos_of(t),
                ));
            });
            i += 2;
            continue;
        }
        rest.push(t.clone());
        i += 1;
    }
    let dialect = KsqlDialect;
    let mut parser = Parser::new(&dialect).with_tokens_with_locations(rest);
    let end = tokens.last().map(end_pos);
    let mut query = parser
        .parse_query()
        .map_err(|e| with_keyword_hint(ParseError::from_sqlparser(e).or_position(end), tokens))?;
    expect_parser_end(&parser).map_err(|e| with_keyword_hint(e, tokens))?;
    for e in &mut partition_by {
        rewrite_expr(e);
    }
    let _ = VisitMut::visit(&mut *query, &mut KsqlRewriter);
    flatten_grouping_set(&mut query);
    name_unaliased_columns(&mut query);
    Ok(StreamQuery {
        query,
        partition_by,
        window,
        emit,
        within,
        position,
    })
}

fn expect_parser_end(parser: &Parser<'_>) -> Result<()> {
    let t = parser.peek_token();
    if t.token == Token::EOF {
        Ok(())
    } else {
        Err(ParseError::new(
            format!("unexpected '{}'", t.token),
            pos_of(&t),
        ))
    }
}

fn matching_paren(tokens: &[TokenWithSpan], open: usize) -> Result<usize> {
    match tokens.get(open) {
        Some(t) if t.token == Token::LParen => {}
        Some(t) => {
            return Err(ParseError::new(
                format!("expected '(', found {}", t.token),
                pos_of(t),
            ))
        }
        None => {
            return Err(ParseError::new(
                "expected '(' after the window type",
                tokens.last().and_then(pos_of),
            ))
        }
    }
    let mut depth = 0;
    for (j, t) in tokens.iter().enumerate().skip(open) {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Ok(j);
                }
            }
            _ => {}
        }
    }
    Err(ParseError::new(
        "unclosed '(' in WINDOW clause",
        pos_of(&tokens[open]),
    ))
}

/// `WINDOW TUMBLING (SIZE 1 HOUR, GRACE PERIOD 5 MINUTES)` and friends (tokens include the
/// closing parenthesis).
fn parse_window(tokens: &[TokenWithSpan]) -> Result<WindowSpec> {
    let position = pos_of(&tokens[0]);
    let mut c = Cursor::new(&tokens[1..]);
    let kind_word = c.name()?.value;
    c.expect(&Token::LParen)?;
    let mut size = None;
    let mut advance = None;
    let mut gap = None;
    let mut grace = None;
    let mut retention = None;
    let mut closed = false;
    if kind_word == "SESSION" && !c.is_word(0, "SIZE") {
        gap = Some(parse_duration(&mut c)?);
        if !c.eat(&Token::Comma) {
            c.expect(&Token::RParen)?;
            closed = true;
        }
    }
    while !closed && !c.eat(&Token::RParen) {
        let at = c.position();
        let set = |slot: &mut Option<i64>, what: &str, value: i64| -> Result<()> {
            if slot.replace(value).is_some() {
                return Err(ParseError::new(format!("{what} is given twice"), at));
            }
            Ok(())
        };
        if c.eat_word("SIZE") {
            set(&mut size, "SIZE", parse_duration(&mut c)?)?;
        } else if c.eat_words(&["ADVANCE", "BY"]) {
            if kind_word != "HOPPING" {
                return Err(ParseError::new(
                    format!("ADVANCE BY is for HOPPING windows, not {kind_word}"),
                    at,
                ));
            }
            set(&mut advance, "ADVANCE BY", parse_duration(&mut c)?)?;
        } else if c.eat_words(&["GRACE", "PERIOD"]) {
            set(&mut grace, "GRACE PERIOD", parse_duration(&mut c)?)?;
        } else if c.eat_word("RETENTION") {
            set(&mut retention, "RETENTION", parse_duration(&mut c)?)?;
        } else {
            return Err(c.unexpected("SIZE, ADVANCE BY, GRACE PERIOD or RETENTION"));
        }
        if !c.eat(&Token::Comma) {
            c.expect(&Token::RParen)?;
            break;
        }
    }
    let missing =
        |what: &str| ParseError::new(format!("{kind_word} window needs {what}"), position);
    let kind = match kind_word.as_str() {
        "TUMBLING" => WindowKind::Tumbling {
            size_ms: size.ok_or_else(|| missing("a SIZE"))?,
        },
        "HOPPING" => WindowKind::Hopping {
            size_ms: size.ok_or_else(|| missing("a SIZE"))?,
            advance_ms: advance.ok_or_else(|| missing("ADVANCE BY"))?,
        },
        _ => WindowKind::Session {
            gap_ms: gap
                .or(size)
                .ok_or_else(|| missing("a gap, e.g. SESSION (5 MINUTES)"))?,
        },
    };
    Ok(WindowSpec {
        kind,
        grace_ms: grace,
        retention_ms: retention,
        position,
    })
}

/// `WITHIN n unit | WITHIN (before unit, after unit) [GRACE PERIOD n unit]`.
fn parse_within(tokens: &[TokenWithSpan]) -> Result<JoinWithin> {
    let position = pos_of(&tokens[0]);
    let mut c = Cursor::new(&tokens[1..]);
    let (before_ms, after_ms) = if c.eat(&Token::LParen) {
        let before = parse_duration(&mut c)?;
        c.expect(&Token::Comma)?;
        let after = parse_duration(&mut c)?;
        c.expect(&Token::RParen)?;
        (before, after)
    } else {
        let both = parse_duration(&mut c)?;
        (both, both)
    };
    let grace_ms = if c.eat_words(&["GRACE", "PERIOD"]) {
        Some(parse_duration(&mut c)?)
    } else {
        None
    };
    c.expect_end()?;
    Ok(JoinWithin {
        join: 0,
        before_ms,
        after_ms,
        grace_ms,
        position,
    })
}

fn parse_duration(c: &mut Cursor<'_>) -> Result<i64> {
    let n = c.number()?;
    let unit_pos = c.position();
    let unit = c.name()?.value;
    let factor = match unit.trim_end_matches('S') {
        "MILLISECOND" => 1,
        "SECOND" => 1_000,
        "MINUTE" => 60_000,
        "HOUR" => 3_600_000,
        "DAY" => 86_400_000,
        _ => {
            return Err(
                ParseError::new(format!("unknown time unit '{unit}'"), unit_pos)
                    .with_suggestion("use MILLISECONDS, SECONDS, MINUTES, HOURS or DAYS"),
            )
        }
    };
    n.checked_mul(factor)
        .ok_or_else(|| ParseError::new("duration is too large", unit_pos))
}

/// Rewrites ksqlDB expression syntax into what DataFusion plans: `a->b` becomes
/// `get_field(a, 'B')`.
struct KsqlRewriter;

impl sqlparser::ast::VisitorMut for KsqlRewriter {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        rewrite_expr_node(expr);
        ControlFlow::Continue(())
    }
}

fn rewrite_expr(expr: &mut Expr) {
    let _ = visit_expressions_mut(expr, |e| {
        rewrite_expr_node(e);
        ControlFlow::<()>::Continue(())
    });
}

/// Whether `e` names a system time column (`ROWTIME`, `WINDOWSTART`, `WINDOWEND`).
fn is_time_column(e: &Expr) -> bool {
    let name = match e {
        Expr::Identifier(i) => &i.value,
        Expr::CompoundIdentifier(parts) => match parts.last() {
            Some(i) => &i.value,
            None => return false,
        },
        _ => return false,
    };
    matches!(
        name.to_ascii_uppercase().as_str(),
        "ROWTIME" | "WINDOWSTART" | "WINDOWEND"
    )
}

/// Epoch milliseconds of an ISO 8601 timestamp as ksqlDB accepts it when compared with
/// `ROWTIME` (`2018-01-01T00:00:00.001`, `2019-01-01T00:00:00+0445`, `2018-01-01`): UTC unless
/// an offset is given.
fn iso_millis(text: &str) -> Option<i64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let text = text.trim();
    for f in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M%#z"] {
        if let Ok(t) = DateTime::parse_from_str(text, f) {
            return Some(t.timestamp_millis());
        }
    }
    let naive = text.trim_end_matches('Z');
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, f) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(&format!("{naive}:00"), "%Y-%m-%dT%H:%M") {
        return Some(t.and_utc().timestamp_millis());
    }
    NaiveDate::parse_from_str(naive, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

/// A string literal compared with a time column becomes its epoch milliseconds.
fn time_literal(e: &mut Expr) {
    if let Expr::Value(v) = e {
        if let Value::SingleQuotedString(s) = &v.value {
            if let Some(ms) = iso_millis(s) {
                *e = Expr::value(Value::Number(ms.to_string(), false));
            }
        }
    }
}

fn rewrite_expr_node(expr: &mut Expr) {
    if let Expr::Function(f) = expr {
        lambda_arguments(f);
    }
    // A number with an exponent (`1.5e2`) is a DOUBLE in ksqlDB (one without, a DECIMAL).
    if let Expr::Value(v) = expr {
        if let sqlparser::ast::Value::Number(n, _) = &v.value {
            if n.contains(['e', 'E']) {
                *expr = Expr::Cast {
                    kind: sqlparser::ast::CastKind::Cast,
                    expr: Box::new(Expr::value(sqlparser::ast::Value::SingleQuotedString(
                        n.clone(),
                    ))),
                    data_type: sqlparser::ast::DataType::Double(
                        sqlparser::ast::ExactNumberInfo::None,
                    ),
                    array: false,
                    format: None,
                };
                return;
            }
        }
    }
    // ksqlDB compares ROWTIME and window bounds with timestamp text: `ROWTIME > '2018-01-01'`.
    match expr {
        Expr::BinaryOp {
            left,
            op:
                BinaryOperator::Gt
                | BinaryOperator::GtEq
                | BinaryOperator::Lt
                | BinaryOperator::LtEq
                | BinaryOperator::Eq
                | BinaryOperator::NotEq,
            right,
        } => {
            if is_time_column(left) {
                time_literal(right);
            } else if is_time_column(right) {
                time_literal(left);
            }
        }
        Expr::Between {
            expr: inner,
            low,
            high,
            ..
        } if is_time_column(inner) => {
            time_literal(low);
            time_literal(high);
        }
        _ => {}
    }
    // ksqlDB's SUBSTRING (negative positions count from the end) is a function, not SQL's
    // SUBSTRING syntax.
    if let Expr::Substring {
        expr: inner,
        substring_from,
        substring_for,
        ..
    } = expr
    {
        let mut args = vec![std::mem::replace(inner.as_mut(), Expr::value(Value::Null))];
        args.extend(substring_from.take().map(|e| *e));
        args.extend(substring_for.take().map(|e| *e));
        *expr = call("substring", args);
        return;
    }
    // ksqlDB's COUNT_DISTINCT(x) is COUNT(DISTINCT x).
    if let Expr::Function(f) = expr {
        let name = f.name.to_string().to_uppercase();
        // MAP(k1 := v1, k2 := v2) builds a map.
        if name == "MAP" {
            if let FunctionArguments::List(list) = &mut f.args {
                let assignment = |a: &FunctionArg| {
                    matches!(
                        a,
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::BinaryOp {
                            op: BinaryOperator::Assignment,
                            ..
                        }))
                    )
                };
                if !list.args.is_empty() && list.args.iter().all(assignment) {
                    let mut pairs = Vec::new();
                    for arg in std::mem::take(&mut list.args) {
                        if let FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::BinaryOp {
                            left,
                            right,
                            ..
                        })) = arg
                        {
                            pairs.push(*left);
                            pairs.push(*right);
                        }
                    }
                    *expr = call("make_map", pairs);
                    return;
                }
            }
        }
        // STRUCT(a := x, b := y) builds a struct with fields A and B.
        if name == "STRUCT" {
            if let FunctionArguments::List(list) = &mut f.args {
                let named_arg = |a: &FunctionArg| {
                    matches!(
                        a,
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::BinaryOp {
                            op: BinaryOperator::Assignment,
                            ..
                        })) | FunctionArg::Named {
                            arg: FunctionArgExpr::Expr(_),
                            ..
                        }
                    )
                };
                if !list.args.is_empty() && list.args.iter().all(named_arg) {
                    let mut named = Vec::new();
                    for arg in std::mem::take(&mut list.args) {
                        match arg {
                            FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::BinaryOp {
                                left,
                                right,
                                ..
                            })) => {
                                let field = match *left {
                                    Expr::Identifier(ident) => ident.value,
                                    other => other.to_string(),
                                };
                                named.push(Expr::value(Value::SingleQuotedString(field)));
                                named.push(*right);
                            }
                            FunctionArg::Named {
                                name,
                                arg: FunctionArgExpr::Expr(e),
                                ..
                            } => {
                                named.push(Expr::value(Value::SingleQuotedString(name.value)));
                                named.push(e);
                            }
                            _ => {}
                        }
                    }
                    *expr = call("named_struct", named);
                    return;
                }
            }
        }
        let renamed = match name.as_str() {
            "COUNT_DISTINCT" => Some("COUNT"),
            _ => None,
        };
        if let (Some(new), FunctionArguments::List(list)) = (renamed, &mut f.args) {
            f.name = ObjectName::from(vec![Ident::new(new)]);
            list.duplicate_treatment = Some(sqlparser::ast::DuplicateTreatment::Distinct);
        }
        // DATEADD(DAYS, 3, d) and friends name their unit as a bare word: pass it as text.
        let takes_unit = matches!(
            name.as_str(),
            "DATEADD" | "DATESUB" | "TIMEADD" | "TIMESUB" | "TIMESTAMPADD" | "TIMESTAMPSUB"
        );
        if let (true, FunctionArguments::List(list)) = (takes_unit, &mut f.args) {
            if let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(first))) = list.args.first_mut()
            {
                if let Expr::Identifier(ident) = first {
                    if ident.quote_style.is_none() && is_time_unit(&ident.value) {
                        *first = Expr::value(Value::SingleQuotedString(ident.value.clone()));
                    }
                }
            }
        }
        // ksqlDB's ARRAY_SORT(a [, 'ASC' | 'DESC']) puts NULL elements last either way.
        if let ("ARRAY_SORT", FunctionArguments::List(list)) = (name.as_str(), &mut f.args) {
            let text = |s: &str| {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::value(
                    Value::SingleQuotedString(s.into()),
                )))
            };
            if list.args.len() == 1 {
                list.args.push(text("ASC"));
            }
            if list.args.len() == 2 {
                list.args.push(text("NULLS LAST"));
            }
        }
        return;
    }
    if let Expr::BinaryOp {
        left,
        op: BinaryOperator::Arrow,
        right,
    } = expr
    {
        let field = match right.as_ref() {
            Expr::Identifier(ident) => Some(ident.value.clone()),
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        };
        if let Some(field) = field {
            let base = std::mem::replace(left.as_mut(), Expr::value(Value::Null));
            *expr = call(
                "get_field",
                vec![base, Expr::value(Value::SingleQuotedString(field))],
            );
            return;
        }
        // `s->a[1]` reads as `s->(a[1])` (subscripts bind tighter): it means `(s->a)[1]`.
        if let Expr::CompoundFieldAccess { root, access_chain } = right.as_mut() {
            if let Expr::Identifier(ident) = root.as_ref() {
                let field = ident.value.clone();
                let base = std::mem::replace(left.as_mut(), Expr::value(Value::Null));
                *expr = Expr::CompoundFieldAccess {
                    root: Box::new(call(
                        "get_field",
                        vec![base, Expr::value(Value::SingleQuotedString(field))],
                    )),
                    access_chain: std::mem::take(access_chain),
                };
            }
        }
    }
}

/// Whether `word` names a time unit as ksqlDB's date arithmetic functions spell them.
fn is_time_unit(word: &str) -> bool {
    matches!(
        word.to_ascii_uppercase().trim_end_matches('S'),
        "NANOSECOND" | "MICROSECOND" | "MILLISECOND" | "SECOND" | "MINUTE" | "HOUR" | "DAY"
    )
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// ksqlDB names unaliased select expressions `KSQL_COL_0`, `KSQL_COL_1`, ... and a struct field
/// access `a->b` after the field.
/// The clause keywords a misspelling is compared with.
const CLAUSE_KEYWORDS: [&str; 22] = [
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "HAVING",
    "PARTITION",
    "WINDOW",
    "EMIT",
    "CHANGES",
    "FINAL",
    "JOIN",
    "LEFT",
    "RIGHT",
    "INNER",
    "OUTER",
    "FULL",
    "WITHIN",
    "LIMIT",
    "AS",
    "ON",
    "GRACE",
];

/// A syntax error at or just after a misspelt keyword (`FORM`, `WHER`, `PARTITON`) suggests
/// the keyword; one at a statement's first word (`SELECT` after a query without `;`) asks
/// for the missing `;`.
fn with_keyword_hint(err: ParseError, tokens: &[TokenWithSpan]) -> ParseError {
    if err.suggestion.is_some() {
        return err;
    }
    let Some(at) = err.position else {
        return err;
    };
    let words: Vec<(usize, &sqlparser::tokenizer::Word, Position)> = tokens
        .iter()
        .enumerate()
        .filter_map(|(i, t)| match (&t.token, pos_of(t)) {
            (Token::Word(w), Some(p)) if w.quote_style.is_none() && p <= at => Some((i, w, p)),
            _ => None,
        })
        .collect();
    // The word the error is at, and the one before it.
    for (_, w, _) in words.iter().rev().take(2) {
        let upper = w.value.to_uppercase();
        // (A short name such as `a` is a column, not a misspelt AS.)
        if CLAUSE_KEYWORDS.contains(&upper.as_str()) || upper.chars().count() < 3 {
            continue;
        }
        if let Some(k) = crate::closest_match(&upper, CLAUSE_KEYWORDS) {
            return err.with_suggestion(format!("did you mean {k}?"));
        }
    }
    if let Some((_, w, p)) = words.last() {
        let starts = ["SELECT", "CREATE", "INSERT", "DROP", "SHOW", "DESCRIBE"];
        if *p == at && p.column == 1 && starts.contains(&w.value.to_uppercase().as_str()) {
            return err.with_suggestion("is a ';' missing at the end of the statement before?");
        }
    }
    err
}

/// `GROUP BY (a, b)`, a single grouping set, groups by `a, b`.
fn flatten_grouping_set(query: &mut sqlparser::ast::Query) {
    let SetExpr::Select(select) = query.body.as_mut() else {
        return;
    };
    if let sqlparser::ast::GroupByExpr::Expressions(exprs, _) = &mut select.group_by {
        if let [Expr::Tuple(items)] = exprs.as_mut_slice() {
            *exprs = std::mem::take(items);
        }
    }
}

fn name_unaliased_columns(query: &mut sqlparser::ast::Query) {
    let SetExpr::Select(select) = query.body.as_mut() else {
        return;
    };
    let mut generated = 0;
    // Names already taken: a field name that clashes gets `_1`, `_2`, ... as in ksqlDB.
    let mut taken: Vec<String> = select
        .projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
            SelectItem::UnnamedExpr(Expr::Identifier(i)) => Some(i.value.clone()),
            SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => {
                parts.last().map(|i| i.value.clone())
            }
            _ => None,
        })
        .collect();
    for item in &mut select.projection {
        if let SelectItem::UnnamedExpr(expr) = item {
            let alias = match expr {
                Expr::Identifier(_) | Expr::CompoundIdentifier(_) => continue,
                Expr::Function(f) if is_field_access(f) => field_name(f).map(|name| {
                    let mut unique = name.clone();
                    let mut n = 0;
                    while taken.contains(&unique) {
                        n += 1;
                        unique = format!("{name}_{n}");
                    }
                    taken.push(unique.clone());
                    unique
                }),
                _ => {
                    let name = format!("KSQL_COL_{generated}");
                    generated += 1;
                    Some(name)
                }
            };
            if let Some(alias) = alias {
                *item = SelectItem::ExprWithAlias {
                    expr: expr.clone(),
                    alias: Ident::with_quote('"', alias),
                };
            }
        }
    }
}

fn is_field_access(f: &Function) -> bool {
    f.name.to_string() == "get_field"
}

fn field_name(f: &Function) -> Option<String> {
    match &f.args {
        FunctionArguments::List(list) => match list.args.get(1) {
            Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v)))) => match &v.value {
                Value::SingleQuotedString(s) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_text_compared_with_rowtime_is_epoch_millis() {
        assert_eq!(
            iso_millis("2018-01-01T00:00:00.001"),
            Some(1_514_764_800_001)
        );
        assert_eq!(iso_millis("2018-01-01"), Some(1_514_764_800_000));
        assert_eq!(
            iso_millis("2019-01-01T00:00:00+0445"),
            Some(1_546_283_700_000)
        );
        assert_eq!(
            iso_millis("2020-02-10T08:31:44.001+0000"),
            Some(1_581_323_504_001)
        );
        assert_eq!(iso_millis("yesterday"), None);
        let q =
            parse("SELECT a FROM s WHERE ROWTIME BETWEEN '2018-01-01' AND '2018-01-02';").unwrap();
        let StatementKind::Query(q) = &q[0].kind else {
            panic!("a query")
        };
        assert!(q
            .query
            .to_string()
            .contains("BETWEEN 1514764800000 AND 1514851200000"));
    }

    fn one(sql: &str) -> Statement {
        let mut v = parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(v.len(), 1);
        v.remove(0)
    }

    #[test]
    fn nested_types_closed_by_one_shift_token() {
        let s = one(
            "CREATE STREAM s (a STRUCT<p STRUCT<n STRING>>, b ARRAY<MAP<STRING, INT>>, c INT);",
        );
        let StatementKind::CreateSource(c) = &s.kind else {
            panic!("a CREATE")
        };
        let names: Vec<String> = c.columns.iter().map(|c| c.name.value.clone()).collect();
        assert_eq!(names, ["A", "B", "C"]);
        assert_eq!(
            c.columns[0].data_type.to_string(),
            "STRUCT<`P` STRUCT<`N` STRING>>"
        );
    }

    #[test]
    fn create_stream_with_columns_and_options() {
        let s = one(
            "CREATE STREAM trips (trip_id STRING KEY, fare DOUBLE, tags ARRAY<STRING>, \
                     m MAP<STRING, INT>, s STRUCT<a INT, `b` DECIMAL(10, 2)>) \
                     WITH (PATH='data/t.jsonl', value_format='json', PARTITIONS=4);",
        );
        let StatementKind::CreateSource(c) = s.kind else {
            panic!()
        };
        assert_eq!(c.name.value, "TRIPS");
        assert_eq!(c.columns.len(), 5);
        assert_eq!(c.columns[0].key, KeyKind::Key);
        assert_eq!(
            c.columns[4].data_type.to_string(),
            "STRUCT<`A` INTEGER, `b` DECIMAL(10, 2)>"
        );
        assert_eq!(c.with.get("value_format").unwrap().value.as_text(), "json");
        assert_eq!(c.with.get("PARTITIONS").unwrap().value.as_text(), "4");
    }

    #[test]
    fn query_clauses_are_lifted_out() {
        let s = one(
            "SELECT a, b + 1, s->x FROM t WINDOW TUMBLING (SIZE 1 HOUR, GRACE PERIOD 5 MINUTES) \
                     WHERE a > 1 PARTITION BY b, a EMIT CHANGES LIMIT 3",
        );
        let StatementKind::Query(q) = s.kind else {
            panic!()
        };
        assert_eq!(q.partition_by.len(), 2);
        assert_eq!(q.emit, Some(Emit::Changes));
        assert_eq!(
            q.window.unwrap().kind,
            WindowKind::Tumbling { size_ms: 3_600_000 }
        );
        let text = q.query.to_string();
        assert!(text.contains("LIMIT 3"), "{text}");
        assert!(text.contains("\"KSQL_COL_0\""), "{text}");
        assert!(text.contains("get_field(S, 'X') AS \"X\""), "{text}");
    }

    #[test]
    fn arrow_binds_tighter_than_comparison() {
        let s = one("SELECT * FROM t WHERE s->x > 5");
        let StatementKind::Query(q) = s.kind else {
            panic!()
        };
        assert!(q.query.to_string().contains("get_field(S, 'X') > 5"));
    }

    #[test]
    fn errors_have_positions() {
        let err = parse("SELECT *\nFROM t WHERE a >").unwrap_err();
        assert_eq!(err.position.map(|p| p.line), Some(2));
        let err = parse("CREAT STREAM x (a INT);").unwrap_err();
        assert_eq!(err.position, Some(Position::new(1, 1)));
        assert_eq!(err.suggestion.as_deref(), Some("did you mean CREATE?"));
        // An unknown type name may be a CREATE TYPE's: it is checked when the statement runs.
        let ok = parse("CREATE STREAM x (a INTT);").unwrap();
        let StatementKind::CreateSource(c) = &ok[0].kind else {
            panic!()
        };
        assert_eq!(c.columns[0].data_type, SqlType::Custom("INTT".into()));
        let err = parse("CREATE STREAM x (a KEY);").unwrap_err();
        assert_eq!(err.position, Some(Position::new(1, 20)));
    }

    #[test]
    fn statements_split_and_keep_text() {
        let v = parse("SET 'batch.max.rows' = '10';\n-- note; not a split\nSELECT ';' FROM s;")
            .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].text, "SELECT ';' FROM s");
        assert_eq!(v[1].position, Position::new(3, 1));
    }

    #[test]
    fn insert_values_and_select() {
        let s = one("INSERT INTO s (a, b) VALUES (1, 'x'), (2, NULL)");
        let StatementKind::InsertValues { columns, rows, .. } = s.kind else {
            panic!()
        };
        assert_eq!(columns.len(), 2);
        assert_eq!(rows.len(), 2);
        let s = one("INSERT INTO s SELECT * FROM t");
        assert!(matches!(s.kind, StatementKind::InsertSelect { .. }));
    }

    #[test]
    fn session_window_gap() {
        let s = one("SELECT k FROM t WINDOW SESSION (30 SECONDS) GROUP BY k");
        let StatementKind::Query(q) = s.kind else {
            panic!()
        };
        assert_eq!(
            q.window.unwrap().kind,
            WindowKind::Session { gap_ms: 30_000 }
        );
    }
}
#[cfg(test)]
mod lambda_tests {
    use super::*;

    #[test]
    fn aliases_may_start_with_a_digit() {
        let s = parse("SELECT ROUND(v, -1) AS 1R, v AS 2 FROM s;");
        // `AS 2` alone is still a number, not a name.
        assert!(s.is_err());
        let s = parse("SELECT ROUND(v, -1) AS 1R FROM s;").unwrap();
        let StatementKind::Query(q) = &s[0].kind else {
            panic!("a query")
        };
        assert!(q.query.to_string().contains("AS 1R"), "{}", q.query);
    }

    #[test]
    fn lambdas_become_lambda_expressions() {
        let s = parse("SELECT TRANSFORM(xs, x => x * 10), REDUCE(xs, 0, (s, x) => s + x) FROM s;")
            .unwrap();
        let StatementKind::Query(q) = &s[0].kind else {
            panic!("a query")
        };
        let text = q.query.to_string();
        assert!(text.contains("\"X\" -> X * 10"), "{text}");
        assert!(text.contains("(\"S\", \"X\") -> S + X"), "{text}");
    }
}
