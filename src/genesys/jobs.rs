//! The analytics conversation detail jobs of Genesys Cloud: how far its data is complete
//! (`GET …/details/jobs/availability`), and one job per interval: submitted, polled with
//! backoff through `QUEUED`/`PENDING` to `FULFILLED`, its results paged by cursor into a
//! writer (one page a line, as the ingest reads them), then deleted. A `FAILED` job is an
//! error with Genesys's `errorMessage`; an `EXPIRED` or `CANCELLED` one is submitted again
//! once.

use std::io::Write;
use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;

use super::client::Client;
use crate::model::{format_timestamp, parse_timestamp};

/// The path of the detail jobs.
pub const JOBS: &str = "/api/v2/analytics/conversations/details/jobs";

/// Longest a job may take to be fulfilled.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(3 * 3600);

/// What one job brought.
#[derive(Debug, Default, Clone, Copy)]
pub struct Fetched {
    /// Result pages read.
    pub pages: u64,
    /// Conversations in them.
    pub conversations: u64,
    /// Jobs submitted (more than one when one expired).
    pub jobs: u64,
}

/// The instant (ms) up to which Genesys's analytics data is complete.
pub async fn availability(client: &Client) -> anyhow::Result<i64> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Availability {
        data_availability_date: Option<String>,
    }
    let answer = client
        .send(Method::GET, &format!("{JOBS}/availability"), None)
        .await?;
    let parsed: Availability = serde_json::from_slice(&answer.body).map_err(|e| {
        anyhow::anyhow!("{JOBS}/availability answered something else than an availability: {e}")
    })?;
    parsed
        .data_availability_date
        .as_deref()
        .and_then(parse_timestamp)
        .map(|t| t.millis)
        .ok_or_else(|| anyhow::anyhow!("{JOBS}/availability gave no dataAvailabilityDate"))
}

/// The job's state as polled.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    state: Option<String>,
    error_message: Option<String>,
}

/// One results page: its cursor and how many conversations it holds.
#[derive(Deserialize)]
struct Page {
    cursor: Option<String>,
    #[serde(default)]
    conversations: Vec<serde::de::IgnoredAny>,
}

/// Most conversation ids one job's filter names (Genesys bounds the predicates of a filter).
pub const IDS_PER_JOB: usize = 100;

/// Runs one detail job for `[start, end)` (ms) and writes its result pages to `out`, one a
/// line; `page_size` conversations a page. With `ids`, the job asks for those conversations
/// only (Genesys searches the conversations that started on a day the interval touches).
pub async fn fetch_interval(
    client: &Client,
    (start, end): (i64, i64),
    ids: &[String],
    page_size: u32,
    out: &mut impl Write,
) -> anyhow::Result<Fetched> {
    let interval = format!("{}/{}", format_timestamp(start), format_timestamp(end));
    let mut body = serde_json::json!({
        "interval": interval,
        "order": "asc",
        "orderBy": "conversationStart",
    });
    if !ids.is_empty() {
        let predicates: Vec<_> = ids
            .iter()
            .map(|id| {
                serde_json::json!({
                    "type": "dimension",
                    "dimension": "conversationId",
                    "operator": "matches",
                    "value": id,
                })
            })
            .collect();
        body["conversationFilters"] = serde_json::json!([{"type": "or", "predicates": predicates}]);
    }
    let mut fetched = Fetched::default();
    let mut resubmitted = false;
    let id = loop {
        let answer = client.send(Method::POST, JOBS, Some(&body)).await?;
        fetched.jobs += 1;
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Submitted {
            job_id: String,
        }
        let id = serde_json::from_slice::<Submitted>(&answer.body)
            .map_err(|_| anyhow::anyhow!("POST {JOBS} for {interval} gave no jobId"))?
            .job_id;
        match wait_for(client, &id, &interval).await {
            Ok(()) => break id,
            Err(Outcome::Gone(state)) if !resubmitted => {
                resubmitted = true;
                eprintln!("the detail job for {interval} was {state}; submitting it again");
            }
            Err(Outcome::Gone(state)) => anyhow::bail!(
                "the detail job for {interval} was {state} twice; run the pull again later"
            ),
            Err(Outcome::Failed(e)) => return Err(e),
        }
    };
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("{JOBS}/{id}/results?pageSize={page_size}");
        if let Some(c) = &cursor {
            path.push_str("&cursor=");
            path.push_str(&urlencode(c));
        }
        let answer = client.send(Method::GET, &path, None).await?;
        anyhow::ensure!(
            answer.status != 404,
            "the results of the detail job for {interval} are gone (404); run the pull again"
        );
        let page: Page = serde_json::from_slice(&answer.body).map_err(|e| {
            anyhow::anyhow!("a results page of the detail job for {interval} is not JSON: {e}")
        })?;
        fetched.pages += 1;
        fetched.conversations += page.conversations.len() as u64;
        // Raw newlines cannot sit inside JSON strings: without them, the page is one line.
        let line: Vec<u8> = answer
            .body
            .iter()
            .copied()
            .filter(|b| *b != b'\n' && *b != b'\r')
            .collect();
        out.write_all(&line)?;
        out.write_all(b"\n")?;
        match page.cursor {
            Some(next) if !next.is_empty() && !page.conversations.is_empty() => cursor = Some(next),
            _ => break,
        }
    }
    // The job's results are read: it goes (a failure to delete only leaves it to expire).
    if let Err(e) = client
        .send(Method::DELETE, &format!("{JOBS}/{id}"), None)
        .await
    {
        eprintln!("the detail job {id} could not be deleted (it expires by itself): {e}");
    }
    Ok(fetched)
}

/// Why a job did not end fulfilled.
enum Outcome {
    /// Expired or cancelled: it may be submitted again.
    Gone(String),
    /// Failed, or waited on past [`JOB_TIMEOUT`].
    Failed(anyhow::Error),
}

/// Polls job `id` until it is fulfilled.
async fn wait_for(client: &Client, id: &str, interval: &str) -> Result<(), Outcome> {
    let started = std::time::Instant::now();
    let mut wait = Duration::from_millis(200);
    loop {
        let answer = client
            .send(Method::GET, &format!("{JOBS}/{id}"), None)
            .await
            .map_err(Outcome::Failed)?;
        if answer.status == 404 {
            return Err(Outcome::Gone("gone (404)".into()));
        }
        let status: Status = serde_json::from_slice(&answer.body).map_err(|e| {
            Outcome::Failed(anyhow::anyhow!(
                "the status of detail job {id} is not JSON: {e}"
            ))
        })?;
        match status.state.as_deref().unwrap_or("") {
            "FULFILLED" => return Ok(()),
            "FAILED" => {
                return Err(Outcome::Failed(anyhow::anyhow!(
                    "the detail job for {interval} failed in Genesys Cloud: {} (the pull stops here; run it again, or with a shorter --slice)",
                    status.error_message.unwrap_or_else(|| "no errorMessage".into())
                )))
            }
            "EXPIRED" | "CANCELLED" => {
                return Err(Outcome::Gone(status.state.unwrap_or_default().to_lowercase()))
            }
            _ => {}
        }
        if started.elapsed() > JOB_TIMEOUT {
            return Err(Outcome::Failed(anyhow::anyhow!(
                "the detail job for {interval} was not fulfilled within {} h; run the pull again later",
                JOB_TIMEOUT.as_secs() / 3600
            )));
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

/// `text` as a query-string value.
fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
