//! The sqlparser dialect for Weir's ksqlDB surface.

use sqlparser::dialect::Dialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

/// ksqlDB-flavoured SQL: `"` and `` ` `` quote identifiers, and `a->b` (struct field access)
/// binds tighter than any comparison or arithmetic operator.
#[derive(Debug, Default, Clone, Copy)]
pub struct KsqlDialect;

impl Dialect for KsqlDialect {
    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '"' || ch == '`'
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        ch.is_alphabetic() || ch == '_' || ch == '@'
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        ch.is_alphanumeric() || ch == '_' || ch == '@' || ch == '$'
    }

    fn supports_filter_during_aggregation(&self) -> bool {
        true
    }

    fn get_next_precedence(&self, parser: &Parser) -> Option<Result<u8, ParserError>> {
        // Field access `a->b` must bind like `::` (above arithmetic), not like Postgres' JSON
        // operators, so that `a->b > 5` means `(a->b) > 5`.
        match parser.peek_token_ref().token {
            Token::Arrow => Some(Ok(50)),
            _ => None,
        }
    }
}
