//! Writing query results: `table` and `html` for people, `csv`, `json`, `ndjson` and
//! `parquet` for programs. With `--output`, the file is written to a temporary name and renamed, so a
//! reader never sees half of it.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};

/// Result formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned text table.
    Table,
    /// CSV with a header.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// A Parquet file (needs --output).
    Parquet,
    /// One self-contained HTML file: a table with numbers as people write them (for
    /// reports: the whole run with KPI tiles and SVG charts).
    Html,
}

/// Writes `batches` in `format` to `out`.
pub fn write(
    format: Format,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match format {
        Format::Table => {
            writeln!(
                out,
                "{}",
                arrow::util::pretty::pretty_format_batches(batches)?
            )?;
        }
        Format::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            for b in batches {
                writer.write(&nested_as_text(b)?)?;
            }
        }
        Format::Json => {
            let mut writer = arrow::json::ArrayWriter::new(&mut *out);
            for b in batches {
                writer.write(b)?;
            }
            // The writer prints `[]` itself for an empty result.
            writer.finish()?;
            writeln!(out)?;
        }
        Format::Ndjson => {
            let mut writer = arrow::json::LineDelimitedWriter::new(&mut *out);
            for b in batches {
                writer.write(b)?;
            }
            writer.finish()?;
        }
        Format::Html => {
            let batch = arrow::compute::concat_batches(schema, batches)?;
            out.write_all(
                crate::present::html::results_document("Query result", &batch)?.as_bytes(),
            )?;
        }
        Format::Parquet => {
            // The Parquet writer needs a `Send` sink; results are small enough to buffer.
            let mut buffer = Vec::new();
            let mut writer =
                parquet::arrow::ArrowWriter::try_new(&mut buffer, schema.clone(), None)?;
            for b in batches {
                writer.write(b)?;
            }
            writer.close()?;
            out.write_all(&buffer)?;
        }
    }
    Ok(())
}

/// `batch` with its list, struct and map columns as text, since CSV has no nested values:
/// each cell reads as the table format shows it (`[agent, customer]`, `{key: value}`), which
/// is also how DuckDB writes them; a null stays an empty cell.
fn nested_as_text(batch: &RecordBatch) -> anyhow::Result<RecordBatch> {
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| f.data_type().is_nested()) {
        return Ok(batch.clone());
    }
    let options = FormatOptions::default();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if field.data_type().is_nested() {
            let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
            let text: StringArray = (0..column.len())
                .map(|i| column.is_valid(i).then(|| formatter.value(i).to_string()))
                .collect();
            fields.push(Field::new(field.name(), DataType::Utf8, true));
            columns.push(Arc::new(text));
        } else {
            fields.push(field.as_ref().clone());
            columns.push(Arc::clone(column));
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Writes `batches` to `path` atomically (temporary file, then rename).
pub fn write_file(
    format: Format,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    path: &Path,
) -> anyhow::Result<()> {
    let mut temp = temp_beside(path)?;
    {
        let mut buffered = std::io::BufWriter::new(temp.as_file_mut());
        write(format, schema, batches, &mut buffered)?;
        buffered.flush()?;
    }
    publish(temp, path)
}

/// A temporary file in the directory of `path` (made if missing), to be renamed to it.
fn temp_beside(path: &Path) -> anyhow::Result<tempfile::NamedTempFile> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    Ok(tempfile::NamedTempFile::new_in(dir)?)
}

/// Makes the temporary file readable as a file a user writes is (a temporary file is
/// private), syncs it and renames it to `path`.
fn publish(temp: tempfile::NamedTempFile, path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    temp.as_file().sync_all()?;
    temp.persist(path)?;
    Ok(())
}

/// Writes `bytes` to `path` atomically, as [`write_file`] does.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut temp = temp_beside(path)?;
    temp.as_file_mut().write_all(bytes)?;
    publish(temp, path)
}
