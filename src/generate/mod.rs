//! Seeded synthetic exports, shared by tests, benches and `data/sample`.
//!
//! A run draws a fixed contact center (queues, agents, flows) and then conversations spread
//! over a period with a working-day profile: voice, chat, email, message and callback;
//! inbound and outbound; IVR containment, abandons, flow-outs, transfers to queues and agents,
//! consults, holds, wrap-up; media endpoint stats on voice; attributes of 5 to 30 keys;
//! occasional evaluations, surveys and resolutions; some conversations still in progress.
//! With a re-export share, that share of conversations is written first as an earlier,
//! in-progress copy, and complete in a later export (`reexport` beside the main output).
//!
//! The same options and seed give byte-identical output on every machine.

mod record;
mod rng;
mod synth;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub use record::GenConversation;
pub use rng::Rng;
pub use synth::{Center, Detail, Synth, SHORT_ABANDON_MS};

use crate::error::{Error, Result};
use crate::model::format_timestamp;

/// The export shape to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// One conversation per line, in one file.
    Ndjson,
    /// Sync query pages (`{"conversations": [...], "totalHits": N}`), one file per page.
    QueryPages,
    /// Async job result pages (`{"conversations": [...], "cursor": ...}`), one file per page.
    JobPages,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// How many distinct conversations.
    pub conversations: u64,
    /// The seed: same seed, same export.
    pub seed: u64,
    /// The first instant of the period (epoch ms, UTC).
    pub start_ms: i64,
    /// Length of the period in days.
    pub days: u32,
    /// Share of conversations (0..1) written early and in progress, then complete in the re-export.
    pub reexport_share: f64,
    /// Share of conversations (0..1) still in progress at export time.
    pub in_progress_share: f64,
    /// Queues of the center.
    pub queues: usize,
    /// Agents of the center.
    pub agents: usize,
    /// The order of the main export: by start, or interleaved as a concatenation of
    /// overlapping exports gives it (every month of the period mixed through the file).
    pub order: Order,
    /// How much each conversation holds.
    pub detail: Detail,
}

/// The order conversations are written in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Order {
    /// By `conversationStart`, as a detail job ordered by start returns them.
    #[default]
    Start,
    /// The same conversations with the whole period mixed through the file: the i-th of
    /// every [`INTERLEAVE`] in start order goes to the i-th run, and the runs follow each
    /// other (so neighbours in the file are a period's length / `INTERLEAVE` apart).
    Interleaved,
}

/// Runs of an interleaved export.
pub const INTERLEAVE: usize = 64;

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            conversations: 1000,
            seed: 42,
            // 2026-11-02T00:00:00Z, a Monday.
            start_ms: 1_793_577_600_000,
            days: 7,
            reexport_share: 0.0,
            in_progress_share: 0.02,
            queues: 12,
            agents: 60,
            order: Order::Start,
            detail: Detail::Standard,
        }
    }
}

/// One generated conversation, with its later, more complete copy if it is re-exported.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The copy in the main export.
    pub first: GenConversation,
    /// The complete copy for the re-export, if any.
    pub later: Option<GenConversation>,
}

/// The conversations of `options`, in start order.
pub fn conversations(options: &GenerateOptions) -> impl Iterator<Item = Generated> + '_ {
    let center = Center::sized(options.seed, options.queues, options.agents);
    let mut rng = Rng::new(options.seed);
    let period = i64::from(options.days.max(1)) * 86_400_000;
    let step = period / options.conversations.max(1) as i64;
    (0..options.conversations).map(move |i| {
        // Spread starts over the period, bunched into working hours (08:00 to 20:00 UTC).
        let base = options.start_ms + i as i64 * step;
        let day = base.div_euclid(86_400_000) * 86_400_000;
        let in_day = (base - day) as f64 / 86_400_000.0;
        let start = day + 28_800_000 + (in_day * 43_200_000.0) as i64 + rng.range(0, 999);
        let mut synth = Synth::new(&center, Rng::new(rng.next_u64())).with_detail(options.detail);
        let complete = synth.conversation(start);
        let end = complete.last_instant();
        if rng.chance(options.reexport_share) {
            let cut = start + (end - start) * 3 / 4;
            Generated {
                first: complete.cut_at(cut),
                later: Some(complete),
            }
        } else if rng.chance(options.in_progress_share) {
            let cut = start + (end - start) / 2;
            Generated {
                first: complete.cut_at(cut),
                later: None,
            }
        } else {
            Generated {
                first: complete,
                later: None,
            }
        }
    })
}

/// What a generate run wrote.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GenerateSummary {
    /// Files written.
    pub files: Vec<PathBuf>,
    /// Conversations in the main export.
    pub conversations: u64,
    /// Conversations in the re-export.
    pub reexported: u64,
    /// Bytes of JSON written (before compression).
    pub json_bytes: u64,
}

/// Writes the export of `options` in `format` under `out` (a file for NDJSON, a directory for
/// pages), optionally gzip-compressed; re-exported copies go beside it, named `reexport`.
pub fn write_export(
    options: &GenerateOptions,
    format: ExportFormat,
    page_size: usize,
    gzip: bool,
    out: &Path,
) -> Result<GenerateSummary> {
    let mut summary = GenerateSummary::default();
    let later_out = reexport_path(out, format, gzip);
    let mut main = ExportWriter::new(format, page_size, gzip, out.to_path_buf())?;
    let mut later = None;
    // Interleaved: the main copies are spooled to runs (memory stays flat), then replayed.
    let mut runs = match options.order {
        Order::Start => None,
        Order::Interleaved => Some(Runs::new(out)?),
    };
    for generated in conversations(options) {
        match runs.as_mut() {
            Some(runs) => runs.push(&generated.first)?,
            None => main.push(&generated.first)?,
        }
        summary.conversations += 1;
        if let Some(copy) = generated.later {
            if later.is_none() {
                later = Some(ExportWriter::new(
                    format,
                    page_size,
                    gzip,
                    later_out.clone(),
                )?);
            }
            later.as_mut().expect("just set").push(&copy)?;
            summary.reexported += 1;
        }
    }
    if let Some(runs) = runs {
        runs.replay(&mut main)?;
    }
    for writer in std::iter::once(main).chain(later) {
        let (files, bytes) = writer.finish()?;
        summary.files.extend(files);
        summary.json_bytes += bytes;
    }
    Ok(summary)
}

fn reexport_path(out: &Path, format: ExportFormat, gzip: bool) -> PathBuf {
    match format {
        ExportFormat::Ndjson => {
            let parent = out.parent().unwrap_or(Path::new("."));
            let stem = out.file_name().and_then(|n| n.to_str()).unwrap_or("export");
            let stem = stem
                .trim_end_matches(".gz")
                .trim_end_matches(".ndjson")
                .trim_end_matches(".jsonl");
            parent.join(format!(
                "{stem}.reexport.ndjson{}",
                if gzip { ".gz" } else { "" }
            ))
        }
        _ => out.join("reexport"),
    }
}

/// Streams conversations into NDJSON or page files.
struct ExportWriter {
    format: ExportFormat,
    page_size: usize,
    gzip: bool,
    out: PathBuf,
    files: Vec<PathBuf>,
    bytes: u64,
    ndjson: Option<Box<dyn Write>>,
    page: Vec<u8>,
    page_count: usize,
    pages_written: usize,
}

impl ExportWriter {
    fn new(format: ExportFormat, page_size: usize, gzip: bool, out: PathBuf) -> Result<Self> {
        let mut writer = ExportWriter {
            format,
            page_size: page_size.max(1),
            gzip,
            out,
            files: Vec::new(),
            bytes: 0,
            ndjson: None,
            page: Vec::new(),
            page_count: 0,
            pages_written: 0,
        };
        if format == ExportFormat::Ndjson {
            if let Some(parent) = writer.out.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .map_err(|e| Error::io("cannot create", parent, e))?;
            }
            let file = writer.create(&writer.out.clone())?;
            writer.ndjson = Some(file);
            writer.files.push(writer.out.clone());
        } else {
            std::fs::create_dir_all(&writer.out)
                .map_err(|e| Error::io("cannot create", &writer.out, e))?;
        }
        Ok(writer)
    }

    fn create(&self, path: &Path) -> Result<Box<dyn Write>> {
        let file = BufWriter::with_capacity(
            1 << 20,
            File::create(path).map_err(|e| Error::io("cannot create", path, e))?,
        );
        Ok(if self.gzip {
            Box::new(flate2::write::GzEncoder::new(
                file,
                flate2::Compression::fast(),
            ))
        } else {
            Box::new(file)
        })
    }

    fn push(&mut self, c: &GenConversation) -> Result<()> {
        self.push_json(&serde_json::to_vec(c)?)
    }

    /// Writes one conversation already serialized (one line of JSON, no newline).
    fn push_json(&mut self, json: &[u8]) -> Result<()> {
        match self.format {
            ExportFormat::Ndjson => {
                let mut line = json.to_vec();
                line.push(b'\n');
                self.bytes += line.len() as u64;
                let out = self.ndjson.as_mut().expect("ndjson writer");
                out.write_all(&line)
                    .map_err(|e| Error::io("cannot write", &self.out, e))
            }
            _ => {
                self.page
                    .push(if self.page_count == 0 { b'[' } else { b',' });
                self.page.extend_from_slice(json);
                self.page_count += 1;
                if self.page_count == self.page_size {
                    self.flush_page(false)?;
                }
                Ok(())
            }
        }
    }

    fn flush_page(&mut self, last: bool) -> Result<()> {
        if self.page_count == 0 {
            return Ok(());
        }
        self.page.push(b']');
        let n = self.pages_written + 1;
        let text = match self.format {
            ExportFormat::QueryPages => format!(
                "{{\"totalHits\":{},\"conversations\":{}}}",
                self.page_count,
                String::from_utf8_lossy(&self.page)
            ),
            _ => {
                let cursor = if last {
                    String::new()
                } else {
                    format!(",\"cursor\":\"page-{:05}\"", n + 1)
                };
                format!(
                    "{{\"conversations\":{}{cursor},\"dataAvailabilityDate\":\"{}\"}}",
                    String::from_utf8_lossy(&self.page),
                    format_timestamp(1_800_000_000_000)
                )
            }
        };
        let path = self.out.join(format!(
            "page-{n:05}.json{}",
            if self.gzip { ".gz" } else { "" }
        ));
        let mut file = self.create(&path)?;
        file.write_all(text.as_bytes())
            .and_then(|_| file.flush())
            .map_err(|e| Error::io("cannot write", &path, e))?;
        drop(file);
        self.bytes += text.len() as u64;
        self.files.push(path);
        self.page.clear();
        self.page_count = 0;
        self.pages_written = n;
        Ok(())
    }

    fn finish(mut self) -> Result<(Vec<PathBuf>, u64)> {
        if let Some(mut out) = self.ndjson.take() {
            out.flush()
                .map_err(|e| Error::io("cannot write", &self.out, e))?;
        }
        self.flush_page(true)?;
        Ok((self.files, self.bytes))
    }
}

/// The runs of an interleaved export, spooled to temporary files beside the output.
struct Runs {
    dir: tempfile::TempDir,
    files: Vec<BufWriter<std::fs::File>>,
    next: usize,
}

impl Runs {
    fn new(out: &Path) -> Result<Runs> {
        let parent = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| Error::io("cannot make", parent, e))?;
        let dir = tempfile::Builder::new()
            .prefix(".convlake-generate-")
            .tempdir_in(parent)
            .map_err(|e| Error::io("cannot make a spool directory in", parent, e))?;
        let files = (0..INTERLEAVE)
            .map(|i| {
                let path = dir.path().join(format!("run-{i:03}.ndjson"));
                std::fs::File::create(&path)
                    .map(BufWriter::new)
                    .map_err(|e| Error::io("cannot write", &path, e))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Runs {
            dir,
            files,
            next: 0,
        })
    }

    fn push(&mut self, c: &GenConversation) -> Result<()> {
        let file = &mut self.files[self.next % INTERLEAVE];
        self.next += 1;
        serde_json::to_writer(&mut *file, c)?;
        file.write_all(b"\n")
            .map_err(|e| Error::io("cannot write", self.dir.path(), e))
    }

    fn replay(self, out: &mut ExportWriter) -> Result<()> {
        use std::io::BufRead;
        for (i, file) in self.files.into_iter().enumerate() {
            file.into_inner()
                .map_err(|e| Error::io("cannot write", self.dir.path(), e.into_error()))?;
            let path = self.dir.path().join(format!("run-{i:03}.ndjson"));
            let read =
                std::fs::File::open(&path).map_err(|e| Error::io("cannot read", &path, e))?;
            for line in std::io::BufReader::new(read).split(b'\n') {
                let line = line.map_err(|e| Error::io("cannot read", &path, e))?;
                if !line.is_empty() {
                    out.push_json(&line)?;
                }
            }
        }
        Ok(())
    }
}

/// The export of `options` as NDJSON text, for tests.
pub fn ndjson_string(options: &GenerateOptions) -> String {
    let mut out = String::new();
    for g in conversations(options) {
        out.push_str(&serde_json::to_string(&g.first).expect("generated records serialize"));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interleaved_export_holds_the_same_conversations_out_of_start_order() {
        let dir = tempfile::tempdir().unwrap();
        let write = |order: Order, name: &str| {
            let out = dir.path().join(name);
            let options = GenerateOptions {
                conversations: 500,
                days: 60,
                order,
                ..GenerateOptions::default()
            };
            write_export(&options, ExportFormat::Ndjson, 100, false, &out).unwrap();
            std::fs::read_to_string(out).unwrap()
        };
        let sorted = write(Order::Start, "sorted.ndjson");
        let mixed = write(Order::Interleaved, "mixed.ndjson");
        let start = |line: &str| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            v["conversationStart"].as_str().unwrap().to_string()
        };
        let starts: Vec<String> = mixed.lines().map(start).collect();
        assert!(sorted.lines().map(start).collect::<Vec<_>>().is_sorted());
        assert!(!starts.is_sorted());
        // Neighbours are about 60 days / 64 apart: the months alternate through the file.
        let months: Vec<&str> = starts.iter().map(|s| &s[..7]).collect();
        let changes = months.windows(2).filter(|w| w[0] != w[1]).count();
        assert!(changes > 100, "{changes} month changes");
        let mut a: Vec<&str> = sorted.lines().collect();
        let mut b: Vec<&str> = mixed.lines().collect();
        a.sort_unstable();
        b.sort_unstable();
        assert!(a == b, "the same records");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 2, "the spool is gone");
    }

    #[test]
    fn rich_conversations_hold_more_attributes_sessions_and_segments() {
        let mean = |detail: Detail| {
            let text = ndjson_string(&GenerateOptions {
                conversations: 400,
                detail,
                ..GenerateOptions::default()
            });
            let (mut bytes, mut attributes, mut segments) = (0, 0, 0);
            for line in text.lines() {
                bytes += line.len();
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                for p in v["participants"].as_array().unwrap() {
                    attributes += p["attributes"].as_object().map_or(0, |a| a.len());
                    for s in p["sessions"].as_array().unwrap() {
                        segments += s["segments"].as_array().map_or(0, |g| g.len());
                    }
                }
            }
            let n = 400.0;
            (bytes as f64 / n, attributes as f64 / n, segments as f64 / n)
        };
        let (standard, rich) = (mean(Detail::Standard), mean(Detail::Rich));
        assert!((4_000.0..6_500.0).contains(&standard.0), "{standard:?}");
        assert!((8_000.0..11_000.0).contains(&rich.0), "{rich:?}");
        assert!(
            rich.1 > 2.0 * standard.1 && rich.2 > standard.2,
            "{standard:?} {rich:?}"
        );
    }
}
