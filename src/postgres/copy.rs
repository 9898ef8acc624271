//! `COPY (query) TO STDOUT` (and `COPY table TO STDOUT`): a read, answered as a query is
//! (planned read-only, under the statement timeout and the session's memory pool), with its
//! rows sent as COPY data instead of data rows.
//!
//! This is how connectorx and Polars (`WITH BINARY`), the ADBC driver (`(FORMAT binary)`)
//! and psql's `\copy … to stdout` (text, CSV with or without a header) read results. The
//! formats are PostgreSQL's: binary is PGCOPY with the same encodings as binary data rows;
//! text and CSV take `DELIMITER`, `NULL`, `QUOTE` and `HEADER`.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use bytes::{BufMut, Bytes, BytesMut};
use datafusion::sql::sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, Statement,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion_postgres::arrow_pg::datatypes::arrow_schema_to_pg_fields;
use datafusion_postgres::arrow_pg::encoder::encode_value;
use datafusion_postgres::pgwire;
use futures::{Stream, StreamExt};
use pgwire::api::portal::Format;
use pgwire::api::results::{CopyCsvOptions, CopyEncoder, CopyResponse, CopyTextOptions};
use pgwire::error::PgWireResult;
use pgwire::messages::copy::CopyData;

/// The three COPY formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Csv,
    Binary,
}

/// What a `COPY … TO STDOUT` asks for: the query and how its rows are written.
#[derive(Debug, Clone)]
pub struct CopyOut {
    /// The query whose rows are copied.
    pub query: Statement,
    kind: Kind,
    delimiter: Option<char>,
    null: Option<String>,
    quote: Option<char>,
    header: bool,
}

impl CopyOut {
    /// The COPY of `statement`, if it is a `COPY … TO STDOUT` (the policy refuses others).
    pub fn of(statement: &Statement) -> Option<CopyOut> {
        let Statement::Copy {
            source,
            to: true,
            options,
            legacy_options,
            ..
        } = statement
        else {
            return None;
        };
        let query = match source {
            CopySource::Query(query) => Statement::Query(query.clone()),
            CopySource::Table {
                table_name,
                columns,
            } => {
                let columns = if columns.is_empty() {
                    "*".to_string()
                } else {
                    columns
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let sql = format!("SELECT {columns} FROM {table_name}");
                Parser::parse_sql(&PostgreSqlDialect {}, &sql)
                    .ok()?
                    .into_iter()
                    .next()?
            }
        };
        let mut copy = CopyOut {
            query,
            kind: Kind::Text,
            delimiter: None,
            null: None,
            quote: None,
            header: false,
        };
        for option in options {
            match option {
                CopyOption::Format(name) => {
                    copy.kind = match name.value.to_lowercase().as_str() {
                        "binary" => Kind::Binary,
                        "csv" => Kind::Csv,
                        _ => Kind::Text,
                    }
                }
                CopyOption::Delimiter(c) => copy.delimiter = Some(*c),
                CopyOption::Null(s) => copy.null = Some(s.clone()),
                CopyOption::Header(h) => copy.header = *h,
                CopyOption::Quote(c) => copy.quote = Some(*c),
                _ => {}
            }
        }
        for option in legacy_options {
            match option {
                CopyLegacyOption::Binary => copy.kind = Kind::Binary,
                CopyLegacyOption::Delimiter(c) => copy.delimiter = Some(*c),
                CopyLegacyOption::Null(s) => copy.null = Some(s.clone()),
                CopyLegacyOption::Csv(csv) => {
                    copy.kind = Kind::Csv;
                    for o in csv {
                        match o {
                            CopyLegacyCsvOption::Header => copy.header = true,
                            CopyLegacyCsvOption::Quote(c) => copy.quote = Some(*c),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Some(copy)
    }

    /// The COPY response of `batches` (rows of `schema`): the rows in the asked format, a
    /// header line first for CSV with `HEADER`.
    pub fn response(
        &self,
        schema: Arc<Schema>,
        batches: impl Stream<Item = PgWireResult<RecordBatch>> + Send + 'static,
    ) -> PgWireResult<CopyResponse> {
        let format = if self.kind == Kind::Binary {
            Format::UnifiedBinary
        } else {
            Format::UnifiedText
        };
        let fields = Arc::new(arrow_schema_to_pg_fields(&schema, &format, None)?);
        let columns = fields.len();
        let mut encoder = match self.kind {
            Kind::Binary => CopyEncoder::new_binary(fields.clone()),
            Kind::Text => {
                let mut options = CopyTextOptions::default();
                if let Some(d) = self.delimiter {
                    options.delimiter = d.to_string().into();
                }
                if let Some(n) = &self.null {
                    options.null_string = n.as_str().into();
                }
                CopyEncoder::new_text(fields.clone(), options)
            }
            Kind::Csv => {
                let mut options = CopyCsvOptions::default();
                if let Some(d) = self.delimiter {
                    options.delimiter = d.to_string().into();
                }
                if let Some(n) = &self.null {
                    options.null_string = n.as_str().into();
                }
                if let Some(q) = self.quote {
                    options.quote = q.to_string().into();
                }
                CopyEncoder::new_csv(fields.clone(), options)
            }
        };
        let mut first: Vec<PgWireResult<CopyData>> = Vec::new();
        if self.kind == Kind::Csv && self.header {
            first.push(Ok(CopyData::new(self.header_line(&schema))));
        }
        let binary = self.kind == Kind::Binary;
        let rows = batches.flat_map(move |batch| {
            let out: Vec<PgWireResult<CopyData>> = match batch {
                Err(e) => vec![Err(e)],
                Ok(batch) => {
                    let mut out = Vec::with_capacity(batch.num_rows() + 1);
                    for row in 0..batch.num_rows() {
                        let encoded = (0..batch.num_columns()).try_for_each(|c| {
                            encode_value(
                                &mut encoder,
                                batch.column(c),
                                row,
                                batch.schema_ref().field(c),
                                &fields[c],
                            )
                        });
                        match encoded {
                            Ok(()) => out.push(Ok(encoder.take_copy())),
                            Err(e) => {
                                out.push(Err(e));
                                break;
                            }
                        }
                    }
                    out
                }
            };
            futures::stream::iter(out)
        });
        let data = futures::stream::iter(first).chain(rows).boxed();
        if binary {
            // PGCOPY's header travels in front of the first row, its trailer after the last;
            // a result without rows sends both in one message, as PostgreSQL does (clients
            // read the header off the first message). So the trailer is added here rather
            // than by `CopyResponse::new`.
            let data = BinaryEnd {
                inner: data,
                seen: false,
                done: false,
            };
            let mut response = CopyResponse::new(0, columns, data);
            response.format = 1;
            return Ok(response);
        }
        Ok(CopyResponse::new(0, columns, data))
    }

    /// The CSV header: the column names, quoted where CSV needs it.
    fn header_line(&self, schema: &Schema) -> Bytes {
        let delimiter = self.delimiter.unwrap_or(',');
        let quote = self.quote.unwrap_or('"');
        let names: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| {
                let name = f.name();
                if name.contains([delimiter, quote, '\n', '\r']) {
                    let doubled = name.replace(quote, &format!("{quote}{quote}"));
                    format!("{quote}{doubled}{quote}")
                } else {
                    name.clone()
                }
            })
            .collect();
        let mut line = names.join(&delimiter.to_string());
        line.push('\n');
        Bytes::from(line)
    }
}

/// PGCOPY's signature, flags and header extension length.
const BINARY_HEADER: &[u8; 19] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// PGCOPY's trailer: a field count of -1.
const BINARY_TRAILER: &[u8; 2] = &[0xff, 0xff];

/// Passes the rows through, then the PGCOPY trailer; with no row, the header and the
/// trailer together (the encoder writes the header into the first row only).
struct BinaryEnd {
    inner: futures::stream::BoxStream<'static, PgWireResult<CopyData>>,
    seen: bool,
    done: bool,
}

impl Stream for BinaryEnd {
    type Item = PgWireResult<CopyData>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match this.inner.poll_next_unpin(cx) {
            Poll::Ready(Some(item)) => {
                this.seen = true;
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => {
                this.done = true;
                let mut end = BytesMut::with_capacity(21);
                if !this.seen {
                    end.put_slice(BINARY_HEADER);
                }
                end.put_slice(BINARY_TRAILER);
                Poll::Ready(Some(Ok(CopyData::new(end.freeze()))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sql: &str) -> Statement {
        Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0)
    }

    #[test]
    fn every_spelling_of_the_formats_clients_send() {
        for (sql, kind, header) in [
            ("COPY (SELECT 1) TO STDOUT", Kind::Text, false),
            ("COPY (SELECT 1) TO STDOUT WITH BINARY", Kind::Binary, false),
            (
                "COPY (SELECT 1) TO STDOUT (FORMAT binary)",
                Kind::Binary,
                false,
            ),
            ("COPY (SELECT 1) TO STDOUT WITH CSV", Kind::Csv, false),
            ("COPY (SELECT 1) TO STDOUT WITH CSV HEADER", Kind::Csv, true),
            (
                "COPY (SELECT 1) TO STDOUT (FORMAT csv, HEADER true)",
                Kind::Csv,
                true,
            ),
        ] {
            let copy = CopyOut::of(&parse(sql)).unwrap_or_else(|| panic!("{sql}"));
            assert_eq!((copy.kind, copy.header), (kind, header), "{sql}");
            assert!(matches!(copy.query, Statement::Query(_)), "{sql}");
        }
        let table = CopyOut::of(&parse("COPY participants (purpose, user_id) TO STDOUT")).unwrap();
        assert_eq!(
            table.query.to_string(),
            "SELECT purpose, user_id FROM participants"
        );
        assert!(CopyOut::of(&parse("COPY participants FROM STDIN")).is_none());
    }

    #[test]
    fn csv_headers_quote_what_csv_needs() {
        let copy = CopyOut::of(&parse("COPY (SELECT 1) TO STDOUT WITH CSV HEADER")).unwrap();
        let schema = Schema::new(vec![
            arrow::datatypes::Field::new("plain", arrow::datatypes::DataType::Int64, true),
            arrow::datatypes::Field::new("a,b", arrow::datatypes::DataType::Int64, true),
            arrow::datatypes::Field::new("say \"hi\"", arrow::datatypes::DataType::Int64, true),
        ]);
        assert_eq!(
            copy.header_line(&schema),
            Bytes::from("plain,\"a,b\",\"say \"\"hi\"\"\"\n")
        );
    }
}
