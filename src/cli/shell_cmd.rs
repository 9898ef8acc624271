//! `convlake shell`: an interactive SQL prompt over the latest snapshot, in the manner of
//! datafusion-cli and psql: history, statements over several lines (ended by `;`), completion
//! of table, view, column and function names, backslash commands, and the time of each query.

use std::borrow::Cow;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use crate::cli::output::{self, Format};
use crate::query::{plan, split_statements};

#[derive(Debug, clap::Args)]
pub(crate) struct ShellArgs {
    /// Result format to start with (`\format` changes it).
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

const HELP: &str = "\
  \\d            list tables and views
  \\d NAME       describe a table or view
  \\format F     result format: table, csv, json, ndjson
  \\timing       toggle the time of each query
  \\q            quit (or Ctrl-D)
  SQL statements end with ';' and may span lines.";

/// Completes the names the session knows.
struct Names {
    words: Vec<String>,
}

impl Completer for Names {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let start = line[..pos]
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let prefix = line[start..pos].to_ascii_lowercase();
        if prefix.is_empty() {
            return Ok((pos, Vec::new()));
        }
        let candidates = self
            .words
            .iter()
            .filter(|w| w.starts_with(&prefix))
            .map(|w| Pair {
                display: w.clone(),
                replacement: w.clone(),
            })
            .collect();
        Ok((start, candidates))
    }
}

impl Hinter for Names {
    type Hint = String;
}
impl Highlighter for Names {
    fn highlight<'l>(&self, line: &'l str, _: usize) -> Cow<'l, str> {
        Cow::Borrowed(line)
    }
}
impl Validator for Names {}
impl Helper for Names {}

const KEYWORDS: &[&str] = &[
    "select",
    "from",
    "where",
    "group",
    "by",
    "order",
    "having",
    "limit",
    "join",
    "left",
    "on",
    "using",
    "unnest",
    "with",
    "as",
    "and",
    "or",
    "not",
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "distinct",
    "case",
    "when",
    "then",
    "else",
    "end",
    "explain",
    "describe",
    "show",
    "tables",
    "cast",
    "interval",
    "date",
    "timestamp",
];

async fn known_names(ctx: &datafusion::prelude::SessionContext) -> anyhow::Result<Vec<String>> {
    let batches = ctx
        .sql("SELECT DISTINCT table_name FROM information_schema.tables WHERE table_schema = 'public' UNION SELECT DISTINCT column_name FROM information_schema.columns WHERE table_schema = 'public'")
        .await?
        .collect()
        .await?;
    let mut words: Vec<String> = KEYWORDS.iter().map(|s| s.to_string()).collect();
    for batch in &batches {
        let column = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)?;
        let column = column
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .expect("utf8");
        words.extend(column.iter().flatten().map(str::to_string));
    }
    words.extend(ctx.state().scalar_functions().keys().cloned());
    words.sort();
    words.dedup();
    Ok(words)
}

pub(crate) async fn run(lake: &crate::storage::Lake, args: &ShellArgs) -> anyhow::Result<ExitCode> {
    let ctx = crate::catalog::open(lake).await?;
    let interactive = std::io::stdin().is_terminal();
    let mut editor: Editor<Names, DefaultHistory> = Editor::new()?;
    editor.set_helper(Some(Names {
        words: known_names(&ctx).await?,
    }));
    let history = std::env::var_os("HOME").map(|h| Path::new(&h).join(".convlake_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    if interactive {
        eprintln!("convlake shell over {} — \\? for help, \\q to quit", lake);
    }
    let mut format = args.format;
    let mut timing = interactive;
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            "convlake> "
        } else {
            "       -> "
        };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        let trimmed = line.trim();
        if buffer.is_empty() && trimmed.starts_with('\\') {
            let _ = editor.add_history_entry(trimmed);
            let mut words = trimmed.split_whitespace();
            match (words.next().unwrap_or(""), words.next()) {
                ("\\q", _) => break,
                ("\\?" | "\\h" | "\\help", _) => println!("{HELP}"),
                ("\\timing", _) => {
                    timing = !timing;
                    println!("timing {}", if timing { "on" } else { "off" });
                }
                ("\\format", Some(f)) => match <Format as clap::ValueEnum>::from_str(f, true) {
                    Ok(Format::Parquet) | Err(_) => eprintln!("formats here: table, csv, json, ndjson"),
                    Ok(f) => format = f,
                },
                ("\\d", None) => execute(&ctx, "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name", format, timing).await,
                ("\\d", Some(name)) => {
                    let sql = format!("SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '{}' ORDER BY ordinal_position", name.replace('\'', "''"));
                    execute(&ctx, &sql, format, timing).await
                }
                (other, _) => eprintln!("unknown command {other}; \\? lists the commands"),
            }
            continue;
        }
        if trimmed.is_empty() && buffer.is_empty() {
            continue;
        }
        buffer.push_str(&line);
        buffer.push('\n');
        if !buffer.trim_end().ends_with(';') {
            continue;
        }
        let text = std::mem::take(&mut buffer);
        let _ = editor.add_history_entry(text.trim());
        match split_statements(&text) {
            Ok(statements) => {
                for statement in statements {
                    execute(&ctx, &statement, format, timing).await;
                }
            }
            Err(e) => eprintln!("error: {e}"),
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs one statement and prints its result or its error; the shell goes on either way.
async fn execute(
    ctx: &datafusion::prelude::SessionContext,
    sql: &str,
    format: Format,
    timing: bool,
) {
    let started = Instant::now();
    let result = async {
        let df = plan(ctx, sql, &[]).await?;
        let schema = std::sync::Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        output::write(format, &schema, &batches, &mut std::io::stdout().lock())?;
        Ok::<usize, anyhow::Error>(batches.iter().map(|b| b.num_rows()).sum())
    }
    .await;
    match result {
        Ok(rows) if timing => eprintln!("{rows} row(s) in {:.3}s", started.elapsed().as_secs_f64()),
        Ok(_) => {}
        Err(e) => eprintln!("error: {}", crate::lateral::report(&e)),
    }
}
