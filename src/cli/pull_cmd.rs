//! `convlake pull`: the lake fills itself from a Genesys Cloud org, incrementally.
//!
//! How far the lake has is its **watermark** W, kept in the lake record of the commit that
//! brought the data (`operation.pull.watermark`), never taken from a record's times. A pull
//! asks Genesys how far its data is complete (A, `dataAvailabilityDate`) and fetches
//! `[W − refetch, A)` (the first pull `[--since, A)`), never past A, in slices of `--slice`;
//! each slice is one detail job whose pages are spooled to a local file and ingested through
//! the same decoder and upsert as `convlake ingest`, in one commit that also moves W to the
//! slice's end. A pull killed anywhere resumes from the last commit: nothing twice (the upsert
//! keeps one copy of each conversation, the freshest), nothing lost (W moves only with data).
//! `--refetch` (three days by default) brings back what Genesys changed after the end.
//! Conversations the lake holds still open (no `conversationEnd`) that started before the
//! refetch window are asked for again by id (jobs filtered on `conversationId` over the day
//! each started: Genesys searches only conversations started on a day the interval touches)
//! until they close, for `--follow-open` after their start.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;

use crate::genesys::client::Client;
use crate::genesys::{jobs, Credentials, Endpoints, Secret};
use crate::ingest::Input;
use crate::lake::log::{latest_record, read_record};
use crate::lake::upsert::{ingest, IngestOptions};
use crate::model::format_timestamp;
use crate::storage::Lake;

/// `convlake pull` options.
#[derive(Debug, clap::Args)]
pub(crate) struct PullArgs {
    /// Where the first pull starts (a date, 2026-11-01, or an instant, 2026-11-01T00:00:00Z);
    /// needed when the lake has no watermark yet.
    #[arg(long)]
    since: Option<String>,
    /// Pull no further than this (default: as far as Genesys's data is complete).
    #[arg(long)]
    until: Option<String>,
    /// How far before the watermark each pull fetches again, an ISO-8601 duration (Genesys
    /// changes conversations after they end: wrap-ups, reprocessing of data 48 hours old).
    #[arg(long, default_value = "P3D", value_name = "DURATION")]
    refetch: String,
    /// How long after its start a conversation the lake holds still open is fetched again by
    /// id, an ISO-8601 duration (Genesys keeps some conversations open for ever).
    #[arg(long, default_value = "P31D", value_name = "DURATION")]
    follow_open: String,
    /// Length of the interval of one detail job, an ISO-8601 duration.
    #[arg(long, default_value = "P1D", value_name = "DURATION")]
    slice: String,
    /// JSON of fetched slices committed together (a kill loses at most this much fetching,
    /// never data: the next pull fetches it again).
    #[arg(long, default_value = "256M", value_name = "SIZE")]
    commit_size: String,
    /// Detail jobs run at once (Genesys bounds the concurrent jobs of an org; a few is
    /// enough to keep the ingest busy).
    #[arg(long, default_value_t = 2, value_name = "N")]
    jobs: usize,
    /// Conversations per results page.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    page_size: u32,
    /// The org's region: a key (eu-central-1) or a domain (mypurecloud.de).
    #[arg(long, env = "GENESYSCLOUD_REGION", default_value = "us-east-1")]
    region: String,
    /// The API's base URL instead of the region's (a proxy, a test server).
    #[arg(long, env = "GENESYSCLOUD_API_URL", value_name = "URL")]
    api_url: Option<String>,
    /// The login's base URL (default: the region's, or --api-url).
    #[arg(long, env = "GENESYSCLOUD_LOGIN_URL", value_name = "URL")]
    login_url: Option<String>,
    /// The OAuth client id (Client Credentials grant).
    #[arg(long, env = "GENESYSCLOUD_OAUTHCLIENT_ID", value_name = "ID")]
    client_id: Option<String>,
    /// A file holding the OAuth client secret (else $GENESYSCLOUD_OAUTHCLIENT_SECRET).
    #[arg(long, value_name = "FILE")]
    client_secret_file: Option<PathBuf>,
    /// Seconds one HTTP request may take.
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    request_timeout: u64,
    /// Do not snapshot the org's directory (users, queues, wrap-up codes, divisions, flows,
    /// skills, languages, teams) into the lake's `directory` table.
    #[arg(long)]
    no_reference: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Wait for another process changing the lake instead of failing.
    #[arg(long)]
    wait: bool,
}

/// What a pull did, as `--json` prints it.
#[derive(Debug, Default, Serialize)]
struct PullSummary {
    /// The watermark before the pull (ISO-8601), if the lake had one.
    watermark_before: Option<String>,
    /// The watermark after it.
    watermark_after: Option<String>,
    /// Genesys's `dataAvailabilityDate` at the start.
    availability: String,
    /// Slices fetched and committed.
    slices: u64,
    /// Lake commits they took (slices are committed together up to --commit-size).
    commits: u64,
    /// Detail jobs submitted.
    jobs: u64,
    /// Result pages read.
    pages: u64,
    /// Conversations Genesys returned (with the refetched ones).
    conversations_fetched: u64,
    /// Open conversations started before the refetch window, asked for again by id.
    conversations_open_refetched: u64,
    /// Conversations new to the lake.
    conversations_new: u64,
    /// Conversations whose copy changed.
    conversations_updated: u64,
    /// Conversations fetched again unchanged.
    conversations_unchanged: u64,
    /// Records rejected (quarantined in the lake's rejects).
    rejected: u64,
    /// HTTP requests sent.
    requests: u64,
    /// 429 answers waited out.
    throttled: u64,
    /// Seconds waited for rate limits.
    waited_seconds: f64,
    /// Requests sent again after 5xx answers or transport errors.
    retries: u64,
    /// Seconds the ingest waited for Genesys's side (jobs, polls, pages) of the next slice.
    seconds_waiting_for_genesys: f64,
    /// Seconds spent ingesting and committing slices (fetching the next one meanwhile).
    seconds_ingesting: f64,
    /// The lake versions committed.
    lake_versions: Vec<u64>,
    /// Entities of the org's directory read, per kind (kinds the client may not read are
    /// absent).
    directory: std::collections::BTreeMap<String, usize>,
}

/// The key of the pull's state in a lake record's `operation`.
const PULL: &str = "pull";

pub(crate) fn run_pull(lake: &Lake, args: &PullArgs) -> anyhow::Result<ExitCode> {
    let endpoints = match &args.api_url {
        Some(api) => Endpoints::urls(api, args.login_url.as_deref())?,
        None => {
            let mut e = Endpoints::region(&args.region)?;
            if let Some(login) = &args.login_url {
                e.login = Endpoints::urls(login, None)?.api;
            }
            e
        }
    };
    let credentials = credentials(args)?;
    let refetch = duration_ms(&args.refetch, "--refetch")?;
    let follow_open = duration_ms(&args.follow_open, "--follow-open")?;
    let slice = duration_ms(&args.slice, "--slice")?.max(60_000);
    let page_size = args.page_size.clamp(1, 10_000);
    let jobs = args.jobs.clamp(1, 8);
    let client = Client::new(
        endpoints,
        credentials,
        Duration::from_secs(args.request_timeout.max(1)),
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    let watermark = stored_watermark(lake)?;
    let mut directory = std::collections::BTreeMap::new();
    if !args.no_reference {
        directory = runtime.block_on(snapshot_directory(lake, &client))?;
    }
    let availability = runtime.block_on(jobs::availability(&client))?;
    let until = match &args.until {
        Some(text) => instant(text, "--until")?.min(availability),
        None => availability,
    };
    let start = match (watermark, &args.since) {
        (Some(w), _) => w - refetch,
        (None, Some(since)) => instant(since, "--since")?,
        (None, None) => anyhow::bail!(
            "this lake has not been pulled into yet: say where the first pull starts with --since DATE (for example --since 2026-11-01)"
        ),
    };
    let mut summary = PullSummary {
        watermark_before: watermark.map(format_timestamp),
        watermark_after: watermark.map(format_timestamp),
        availability: format_timestamp(availability),
        directory,
        ..PullSummary::default()
    };
    let spool_dir = tempfile::Builder::new()
        .prefix("convlake-pull-")
        .tempdir()
        .map_err(|e| anyhow::anyhow!("cannot make a spool directory for the pull: {e}"))?;
    let terminal = std::io::stderr().is_terminal() && !args.json;
    // The open conversations first (they do not move the watermark), then the slices.
    let mut slices = Vec::new();
    if watermark.is_some() {
        let open = runtime.block_on(open_conversations(lake, (start - follow_open, start)))?;
        summary.conversations_open_refetched = open.len() as u64;
        slices.extend(reopen_jobs(open, until));
    }
    let mut at = start;
    while at < until {
        let end = (at + slice).min(until);
        slices.push(Slice {
            range: (at, end),
            ids: Vec::new(),
        });
        at = end;
    }
    // Genesys's side of a slice (job, polls, pages) and convlake's (decode, write, commit)
    // overlap: one thread fetches slices into the spool while this one ingests them. Slices
    // are committed together up to --commit-size of JSON (and at the end): each commit of an
    // upsert reads the copies the lake holds in its months, so a commit per day of a month
    // read the month 30 times (46 s of a 57 s pull of 90,000 conversations).
    let commit_bytes = crate::cli::sql_cmd::parse_size(&args.commit_size)
        .map_err(|e| anyhow::anyhow!("--commit-size: {e}"))?
        .max(1) as u64;
    let (sender, receiver) = std::sync::mpsc::sync_channel::<anyhow::Result<Spooled>>(1);
    let outcome = std::thread::scope(|scope| {
        let (client, runtime, slices) = (&client, &runtime, &slices);
        let spool = spool_dir.path();
        // Up to --jobs detail jobs run at once; their slices arrive in order.
        scope.spawn(move || {
            use futures::StreamExt;
            runtime.block_on(async {
                let mut fetched = futures::stream::iter(slices)
                    .enumerate()
                    .map(|(i, slice)| async move {
                        let one = fetch_slice(client, i, slice, page_size, spool).await;
                        (slice, one)
                    })
                    .buffered(jobs);
                while let Some((slice, one)) = fetched.next().await {
                    // A by-id job that fails does not stop the pull (it moves no watermark, so
                    // it would stop every later pull too): it is said and tried next time.
                    if let (false, Err(e)) = (slice.ids.is_empty(), &one) {
                        eprintln!(
                            "warning: {} open conversation(s) could not be fetched again by id (the next pull tries again): {e:#}",
                            slice.ids.len()
                        );
                        continue;
                    }
                    let failed = one.is_err();
                    if sender.send(one).is_err() || failed {
                        return;
                    }
                }
            })
        });
        let mut batch: Vec<Spooled> = Vec::new();
        let mut waited = std::time::Instant::now();
        let mut received = 0;
        for spooled in receiver {
            summary.seconds_waiting_for_genesys += waited.elapsed().as_secs_f64();
            // A failed fetch commits what was fetched before it, then stops the pull.
            let (failed, full) = match spooled {
                Ok(spooled) => {
                    received += 1;
                    batch.push(spooled);
                    let bytes: u64 = batch.iter().map(|s| s.bytes).sum();
                    (None, bytes >= commit_bytes || received == slices.len())
                }
                Err(e) => (Some(e), true),
            };
            if full {
                let ingesting = std::time::Instant::now();
                let taken = std::mem::take(&mut batch);
                commit_batch(lake, client, taken, watermark, args, &mut summary, terminal)?;
                summary.seconds_ingesting += ingesting.elapsed().as_secs_f64();
            }
            if let Some(e) = failed {
                return Err(e);
            }
            waited = std::time::Instant::now();
        }
        // What is left (a skipped by-id job leaves the count short of the slices).
        if !batch.is_empty() {
            let ingesting = std::time::Instant::now();
            commit_batch(lake, client, batch, watermark, args, &mut summary, terminal)?;
            summary.seconds_ingesting += ingesting.elapsed().as_secs_f64();
        }
        anyhow::Ok(())
    });
    summary.requests = client.counts.requests.load(Ordering::Relaxed);
    summary.throttled = client.counts.throttled.load(Ordering::Relaxed);
    summary.waited_seconds = client.counts.waited_ms.load(Ordering::Relaxed) as f64 / 1000.0;
    summary.retries = client.counts.retries.load(Ordering::Relaxed);
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&summary)?)?;
    } else {
        outln!(
            "pulled {} slice(s) up to {}: {} conversations fetched ({} new, {} updated, {} unchanged, {} rejected) in {} requests ({} rate-limited, {:.1} s waited)",
            summary.slices,
            summary.watermark_after.as_deref().unwrap_or("-"),
            summary.conversations_fetched,
            summary.conversations_new,
            summary.conversations_updated,
            summary.conversations_unchanged,
            summary.rejected,
            summary.requests,
            summary.throttled,
            summary.waited_seconds
        )?;
    }
    match outcome {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e.context(format!(
            "the pull stopped; the lake holds what was committed up to {} (run the same command again to go on from there)",
            summary.watermark_after.as_deref().unwrap_or("nothing yet")
        ))),
    }
}

/// One detail job of a pull: an interval (ms), and the conversations it asks for again by id
/// (none: every conversation of the interval).
struct Slice {
    range: (i64, i64),
    ids: Vec<String>,
}

/// A slice fetched into a spool file.
struct Spooled {
    /// The slice, ms.
    start: i64,
    end: i64,
    /// Whether it asked for open conversations by id (it does not move the watermark).
    reopened: bool,
    /// Its pages, one a line.
    path: PathBuf,
    /// Where they came from, as `raw_conversations.source_file` names it: the API and the
    /// job's interval (`https://api.mypurecloud.de/…/details/jobs?interval=…`).
    source: String,
    /// What the job brought.
    fetched: jobs::Fetched,
    /// Bytes of the spool file.
    bytes: u64,
}

/// Fetches one slice (one detail job) into a spool file under `spool`.
async fn fetch_slice(
    client: &Client,
    index: usize,
    slice: &Slice,
    page_size: u32,
    spool: &std::path::Path,
) -> anyhow::Result<Spooled> {
    let (start, end) = slice.range;
    let kind = if slice.ids.is_empty() { "" } else { "open-" };
    let name = format!(
        "genesys-{index:05}-{kind}{}-{}.ndjson",
        format_timestamp(start).replace(':', ""),
        slice.ids.len()
    );
    let path = spool.join(name);
    let file = std::fs::File::create(&path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    let mut out = BufWriter::new(file);
    let fetched =
        jobs::fetch_interval(client, slice.range, &slice.ids, page_size, &mut out).await?;
    out.flush()?;
    let bytes = out.get_ref().metadata().map_or(0, |m| m.len());
    let mut source = format!(
        "{}{}?interval={}/{}",
        client.api(),
        jobs::JOBS,
        format_timestamp(start),
        format_timestamp(end)
    );
    if !slice.ids.is_empty() {
        source.push_str(&format!("&conversationIds={}", slice.ids.len()));
    }
    Ok(Spooled {
        source,
        start,
        end,
        reopened: !slice.ids.is_empty(),
        path,
        fetched,
        bytes,
    })
}

/// Ingests spooled slices in one commit that moves the watermark to the end of the last
/// (never back behind `before`).
fn commit_batch(
    lake: &Lake,
    client: &Client,
    batch: Vec<Spooled>,
    before: Option<i64>,
    args: &PullArgs,
    summary: &mut PullSummary,
    terminal: bool,
) -> anyhow::Result<()> {
    let ranges: Vec<&Spooled> = batch.iter().filter(|s| !s.reopened).collect();
    let first = ranges.first().map(|s| s.start);
    let last = ranges.last().map(|s| s.end);
    let interval = match (first, last) {
        (Some(a), Some(b)) => format!("{}/{}", format_timestamp(a), format_timestamp(b)),
        _ => "conversations still open".into(),
    };
    let watermark = match (before, last) {
        (Some(w), Some(end)) => w.max(end),
        (w, end) => match w.or(end) {
            Some(w) => w,
            None => return Ok(()),
        },
    };
    let reopened = batch.iter().filter(|s| s.reopened).count();
    let conversations: u64 = batch.iter().map(|s| s.fetched.conversations).sum();
    let pages: u64 = batch.iter().map(|s| s.fetched.pages).sum();
    let mut record = serde_json::Map::new();
    record.insert(
        PULL.into(),
        serde_json::json!({
            "watermark": format_timestamp(watermark),
            "interval": interval,
            "slices": batch.len() - reopened,
            "reopened_jobs": reopened,
            "api": client.api(),
            "conversations": conversations,
            "pages": pages,
        }),
    );
    let options = IngestOptions {
        wait_for_lock: args.wait,
        record,
        ..IngestOptions::default()
    };
    // Records are named by where they came from, not by the spool (a temporary file).
    let inputs = batch
        .iter()
        .map(|s| Input::Named {
            path: s.path.clone(),
            name: s.source.clone(),
        })
        .collect();
    let ingested = ingest(lake, inputs, &options)?;
    for s in &batch {
        let _ = std::fs::remove_file(&s.path);
    }
    anyhow::ensure!(
        ingested.input_errors.is_empty(),
        "the pages of {interval} could not all be read: {}",
        ingested.input_errors.join("; ")
    );
    summary.slices += (batch.len() - reopened) as u64;
    summary.commits += 1;
    summary.jobs += batch.iter().map(|s| s.fetched.jobs).sum::<u64>();
    summary.pages += pages;
    summary.conversations_fetched += conversations;
    summary.conversations_new += ingested.conversations_new;
    summary.conversations_updated += ingested.conversations_updated;
    summary.conversations_unchanged += ingested.conversations_unchanged;
    summary.rejected += ingested.rejected;
    summary.lake_versions.extend(ingested.snapshot);
    summary.watermark_after = Some(format_timestamp(watermark));
    if terminal {
        eprintln!("pulled {interval}: {conversations} conversations, {pages} page(s), committed");
    }
    Ok(())
}

/// Reads every kind of the org's directory and merges it into the lake's `directory` table
/// (one Delta commit); the entities read, per kind.
async fn snapshot_directory(
    lake: &Lake,
    client: &Client,
) -> anyhow::Result<std::collections::BTreeMap<String, usize>> {
    use crate::lake::directory::{merge, read, write, Entry};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut seen = std::collections::BTreeMap::new();
    for kind in crate::genesys::directory::KINDS {
        if let Some(entities) = crate::genesys::directory::list(client, kind).await? {
            let entries: Vec<Entry> = entities
                .iter()
                .filter_map(|e| Entry::of(kind.name, e, now))
                .collect();
            seen.insert(kind.name.to_string(), entries);
        }
    }
    let counts = seen.iter().map(|(k, v)| (k.clone(), v.len())).collect();
    let merged = merge(read(lake).await?, &seen);
    write(lake, &merged).await?;
    Ok(counts)
}

/// The conversations the lake holds still open (no end) that started in `[from, to)` (ms), with
/// their starts.
async fn open_conversations(
    lake: &Lake,
    (from, to): (i64, i64),
) -> anyhow::Result<Vec<(String, i64)>> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Int64Type;
    let ctx = crate::catalog::open(lake).await?;
    let sql = format!(
        "SELECT conversation_id, CAST(to_unixtime(conversation_start) * 1000 AS BIGINT) \
         FROM conversations WHERE conversation_end IS NULL \
         AND conversation_start >= TIMESTAMP '{}' AND conversation_start < TIMESTAMP '{}' \
         ORDER BY 2, 1",
        format_timestamp(from),
        format_timestamp(to)
    );
    let mut open = Vec::new();
    for batch in ctx.sql(&sql).await?.collect().await? {
        let ids = datafusion::arrow::compute::cast(
            batch.column(0),
            &datafusion::arrow::datatypes::DataType::Utf8,
        )?;
        let ids = ids.as_string::<i32>();
        let starts = batch.column(1).as_primitive::<Int64Type>();
        for row in 0..batch.num_rows() {
            if !ids.is_null(row) && !starts.is_null(row) {
                open.push((ids.value(row).to_string(), starts.value(row)));
            }
        }
    }
    Ok(open)
}

/// The jobs that ask again for `open` conversations (id, start ms): per UTC day of start, up
/// to [`jobs::IDS_PER_JOB`] ids a job over that day (never past `until`).
fn reopen_jobs(open: Vec<(String, i64)>, until: i64) -> Vec<Slice> {
    const DAY: i64 = 86_400_000;
    let mut days: std::collections::BTreeMap<i64, Vec<String>> = Default::default();
    for (id, start) in open {
        days.entry(start.div_euclid(DAY) * DAY)
            .or_default()
            .push(id);
    }
    let mut slices = Vec::new();
    for (day, ids) in days {
        let end = (day + DAY).min(until);
        if end <= day {
            continue;
        }
        for chunk in ids.chunks(jobs::IDS_PER_JOB) {
            slices.push(Slice {
                range: (day, end),
                ids: chunk.to_vec(),
            });
        }
    }
    slices
}

/// The watermark of the newest commit of a pull, if any.
pub(crate) fn stored_watermark(lake: &Lake) -> anyhow::Result<Option<i64>> {
    let Some(latest) = latest_record(lake)? else {
        return Ok(None);
    };
    let mut version = latest.version;
    let mut record = latest;
    loop {
        if let Some(w) = record
            .operation
            .get(PULL)
            .and_then(|p| p.get("watermark"))
            .and_then(|w| w.as_str())
            .and_then(crate::model::parse_timestamp)
        {
            return Ok(Some(w.millis));
        }
        if version <= 1 {
            return Ok(None);
        }
        version -= 1;
        record = read_record(lake, version)?;
    }
}

/// The OAuth client from the options and the environment.
fn credentials(args: &PullArgs) -> anyhow::Result<Credentials> {
    let id = args.client_id.clone().filter(|id| !id.trim().is_empty()).ok_or_else(|| {
        anyhow::anyhow!("no OAuth client: give its id with --client-id or GENESYSCLOUD_OAUTHCLIENT_ID (an OAuth client of grant type Client Credentials, made under Admin > Integrations > OAuth)")
    })?;
    let secret = match &args.client_secret_file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| {
                anyhow::anyhow!("cannot read the client secret from {}: {e}", path.display())
            })?
            .trim()
            .to_string(),
        None => std::env::var("GENESYSCLOUD_OAUTHCLIENT_SECRET").unwrap_or_default(),
    };
    anyhow::ensure!(
        !secret.trim().is_empty(),
        "no OAuth client secret: give it in GENESYSCLOUD_OAUTHCLIENT_SECRET or in a file named by --client-secret-file"
    );
    Ok(Credentials {
        id: id.trim().to_string(),
        secret: Secret::new(secret),
    })
}

/// An instant given as a date (midnight UTC) or an ISO-8601 date-time, in ms.
fn instant(text: &str, option: &str) -> anyhow::Result<i64> {
    let text = text.trim();
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc()
            .timestamp_millis());
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            anyhow::anyhow!(
                "{option} {text:?} is neither a date (2026-11-01) nor an ISO-8601 instant (2026-11-01T00:00:00Z)"
            )
        })
}

/// An ISO-8601 duration of days, hours, minutes or seconds, in ms.
fn duration_ms(text: &str, option: &str) -> anyhow::Result<i64> {
    match crate::functions::parse_duration(text) {
        Some(crate::functions::Granularity::Fixed(ms)) if ms >= 0 => Ok(ms),
        _ => anyhow::bail!(
            "{option} {text:?} is not an ISO-8601 duration of days, hours or minutes (P3D, PT12H, PT30M)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_and_durations_read_as_people_write_them() {
        assert_eq!(instant("2026-11-01", "--since").unwrap(), 1_793_491_200_000);
        assert_eq!(
            instant("2026-11-01T06:00:00Z", "--since").unwrap(),
            1_793_491_200_000 + 6 * 3_600_000
        );
        assert!(instant("yesterday", "--since")
            .unwrap_err()
            .to_string()
            .contains("--since"));
        assert_eq!(duration_ms("P3D", "--refetch").unwrap(), 3 * 86_400_000);
        assert_eq!(duration_ms("PT12H", "--slice").unwrap(), 12 * 3_600_000);
        assert!(duration_ms("P1M", "--slice").is_err());
    }

    #[test]
    fn open_conversations_are_asked_for_by_the_day_they_started_a_hundred_a_job() {
        let day = 1_793_491_200_000;
        let mut open: Vec<(String, i64)> = (0..150).map(|i| (format!("a{i}"), day + i)).collect();
        open.push(("b".into(), day + 86_400_000 + 5));
        open.push(("c".into(), day + 2 * 86_400_000 + 5));
        let slices = reopen_jobs(open, day + 2 * 86_400_000 + 3_600_000);
        let shape: Vec<_> = slices.iter().map(|s| (s.range, s.ids.len())).collect();
        assert_eq!(
            shape,
            [
                ((day, day + 86_400_000), 100),
                ((day, day + 86_400_000), 50),
                ((day + 86_400_000, day + 2 * 86_400_000), 1),
                ((day + 2 * 86_400_000, day + 2 * 86_400_000 + 3_600_000), 1),
            ]
        );
    }
}
