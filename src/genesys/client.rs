//! One client of an org's Genesys Cloud API, as a good citizen of its rate limits.
//!
//! - **Login**: OAuth client credentials (`POST {login}/oauth/token`, HTTP Basic, form
//!   `grant_type=client_credentials`); the token is renewed a minute before `expires_in` runs
//!   out, and once on a 401 (a revoked token).
//! - **Pacing**: when the `inin-ratelimit-count` of a response comes within
//!   [`PACE_MARGIN`] of `inin-ratelimit-allowed`, the next request waits out
//!   `inin-ratelimit-reset`.
//! - **Retries**: a 429 waits its `Retry-After` (or the reset, or a backoff) and is sent again,
//!   up to [`MAX_THROTTLED`] times a request; 5xx answers, timeouts and transport errors are
//!   retried with a doubling backoff up to [`MAX_ATTEMPTS`] attempts. Other answers are
//!   errors that say what Genesys said and what to do.
//!
//! Nothing here prints or returns the client secret or a token.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{Credentials, Endpoints};

/// Attempts of one request against 5xx answers and transport errors.
pub const MAX_ATTEMPTS: u32 = 6;

/// 429 answers one request waits out before the pull gives up.
pub const MAX_THROTTLED: u32 = 30;

/// Requests left in the rate-limit window below which the client waits for the reset.
pub const PACE_MARGIN: u64 = 2;

/// Longest one wait (a `Retry-After`, a reset, a backoff) may be.
const MAX_WAIT: Duration = Duration::from_secs(120);

/// What the client did, for the pull's summary.
#[derive(Debug, Default)]
pub struct Counts {
    /// HTTP requests sent (logins included).
    pub requests: AtomicU64,
    /// 429 answers waited out.
    pub throttled: AtomicU64,
    /// Milliseconds spent waiting for rate limits (429s and pacing).
    pub waited_ms: AtomicU64,
    /// Requests sent again after a 5xx answer or a transport error.
    pub retries: AtomicU64,
    /// Logins (tokens fetched).
    pub logins: AtomicU64,
}

/// An access token and when to renew it.
struct Token {
    value: String,
    renew_at: Instant,
}

/// A logged-in client of one org's API.
pub struct Client {
    http: reqwest::Client,
    endpoints: Endpoints,
    credentials: Credentials,
    token: tokio::sync::Mutex<Option<Token>>,
    /// When the rate limit asks the next request to wait until.
    pace_until: Mutex<Option<Instant>>,
    /// What the client did.
    pub counts: Counts,
}

/// An answer of the API: its status and body.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: bytes::Bytes,
}

/// The token endpoint's answer.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl Client {
    /// A client of `endpoints`; requests time out after `timeout`.
    pub fn new(
        endpoints: Endpoints,
        credentials: Credentials,
        timeout: Duration,
    ) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(20))
            .user_agent(concat!("convlake/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot set up the HTTP client: {e}"))?;
        Ok(Client {
            http,
            endpoints,
            credentials,
            token: tokio::sync::Mutex::new(None),
            pace_until: Mutex::new(None),
            counts: Counts::default(),
        })
    }

    /// The API's base URL.
    pub fn api(&self) -> &str {
        &self.endpoints.api
    }

    /// A valid access token: the current one, or a new one when it is due or when it is
    /// `refused` (a token another request already renewed is not renewed again: requests
    /// running at once that all met the revoked token log in once).
    async fn token(&self, refused: Option<&str>) -> anyhow::Result<String> {
        let mut token = self.token.lock().await;
        if let Some(t) = token.as_ref() {
            if refused != Some(t.value.as_str()) && Instant::now() < t.renew_at {
                return Ok(t.value.clone());
            }
        }
        let url = format!("{}/oauth/token", self.endpoints.login);
        let mut attempt = 0;
        let answer = loop {
            attempt += 1;
            self.counts.requests.fetch_add(1, Ordering::Relaxed);
            let sent = self
                .http
                .post(&url)
                .basic_auth(&self.credentials.id, Some(self.credentials.secret.expose()))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials")
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_server_error() && attempt < MAX_ATTEMPTS => {
                    self.counts.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Ok(r) if r.status().as_u16() == 429 && attempt < MAX_ATTEMPTS => {
                    self.throttled(wait_of(r.headers()).unwrap_or_else(|| backoff(attempt)))
                        .await;
                }
                Ok(r) => break r,
                Err(_) if attempt < MAX_ATTEMPTS => {
                    self.counts.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(e) => anyhow::bail!(
                    "cannot reach the Genesys Cloud login at {url}: {} (check --region or --login-url, and the network)",
                    without_url(&e)
                ),
            }
        };
        let status = answer.status().as_u16();
        let body = answer.bytes().await.unwrap_or_default();
        if status != 200 {
            anyhow::bail!(
                "the Genesys Cloud login at {url} refused the OAuth client {:?} ({status}: {}): check the client id and secret (GENESYSCLOUD_OAUTHCLIENT_ID, GENESYSCLOUD_OAUTHCLIENT_SECRET), that the client's grant is Client Credentials, and the region",
                self.credentials.id,
                genesys_message(&body)
            );
        }
        let parsed: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
            anyhow::anyhow!("the Genesys Cloud login at {url} answered without an access token")
        })?;
        self.counts.logins.fetch_add(1, Ordering::Relaxed);
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(3600));
        let value = parsed.access_token;
        *token = Some(Token {
            value: value.clone(),
            renew_at: Instant::now() + lifetime.saturating_sub(Duration::from_secs(60)),
        });
        Ok(value)
    }

    /// Waits a 429 out.
    async fn throttled(&self, wait: Duration) {
        self.counts.throttled.fetch_add(1, Ordering::Relaxed);
        self.counts
            .waited_ms
            .fetch_add(wait.as_millis() as u64, Ordering::Relaxed);
        tokio::time::sleep(wait).await;
    }

    /// Sends `method path` (with a JSON `body`) until it gets an answer that is not a 429, a
    /// 5xx or a 401 of an expired token; a 2xx or 404 answer is returned, others are errors.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<Answer> {
        self.send_allowing(method, path, body, &[404]).await
    }

    /// [`Client::send`], returning the answers of the statuses in `allowed` (beside 2xx)
    /// instead of failing on them.
    pub async fn send_allowing(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
        allowed: &[u16],
    ) -> anyhow::Result<Answer> {
        let url = format!("{}{path}", self.endpoints.api);
        let (mut attempt, mut throttled, mut renewed) = (0u32, 0u32, false);
        loop {
            self.pace().await;
            let token = self.token(None).await?;
            let mut request = self.http.request(method.clone(), &url).bearer_auth(&token);
            if let Some(body) = body {
                request = request
                    .header("content-type", "application/json")
                    .body(serde_json::to_vec(body)?);
            }
            self.counts.requests.fetch_add(1, Ordering::Relaxed);
            attempt += 1;
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) if attempt < MAX_ATTEMPTS => {
                    let _ = e;
                    self.counts.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                Err(e) => anyhow::bail!(
                    "{method} {path} failed {attempt} times: {} (is {} reachable? the pull stops here and the next one resumes from what was committed)",
                    without_url(&e),
                    self.endpoints.api
                ),
            };
            let status = response.status().as_u16();
            self.note_rate_limit(response.headers());
            match status {
                429 if throttled < MAX_THROTTLED => {
                    throttled += 1;
                    attempt = attempt.saturating_sub(1);
                    let wait = wait_of(response.headers()).unwrap_or_else(|| backoff(throttled));
                    self.throttled(wait).await;
                    continue;
                }
                401 if !renewed => {
                    renewed = true;
                    self.token(Some(&token)).await?;
                    attempt = attempt.saturating_sub(1);
                    continue;
                }
                500..=599 if attempt < MAX_ATTEMPTS => {
                    self.counts.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                _ => {}
            }
            let body = match response.bytes().await {
                Ok(body) => body,
                Err(_) if attempt < MAX_ATTEMPTS => {
                    self.counts.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                Err(e) => {
                    anyhow::bail!("{method} {path}: the answer broke off: {}", without_url(&e))
                }
            };
            if (200..300).contains(&status) || allowed.contains(&status) {
                return Ok(Answer { status, body });
            }
            let what = match status {
                401 => "the token was refused twice: check the OAuth client (it may have been deleted or its secret changed)",
                403 => "the OAuth client's role lacks a permission this needs (analytics:conversationDetail:view for conversations)",
                429 => "rate-limited past every wait: run the pull again later, or with fewer jobs at once",
                400 => "Genesys refused the request as malformed (a bug of convlake: please report it with this message)",
                _ => "Genesys Cloud did not answer usefully: the pull stops here and the next one resumes from what was committed",
            };
            anyhow::bail!(
                "{method} {path} answered {status}: {} ({what})",
                genesys_message(&body)
            );
        }
    }

    /// Waits while the last answers' rate limit asks to.
    async fn pace(&self) {
        let until = self.pace_until.lock().ok().and_then(|mut p| p.take());
        if let Some(until) = until {
            let now = Instant::now();
            if until > now {
                let wait = until - now;
                self.counts
                    .waited_ms
                    .fetch_add(wait.as_millis() as u64, Ordering::Relaxed);
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// Reads the `inin-ratelimit-*` headers: near the limit, the next request waits for the
    /// reset.
    fn note_rate_limit(&self, headers: &reqwest::header::HeaderMap) {
        let number =
            |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
        let (Some(count), Some(allowed)) = (
            number("inin-ratelimit-count"),
            number("inin-ratelimit-allowed"),
        ) else {
            return;
        };
        if count + PACE_MARGIN >= allowed {
            let reset =
                Duration::from_secs(number("inin-ratelimit-reset").unwrap_or(1)).min(MAX_WAIT);
            if let Ok(mut pace) = self.pace_until.lock() {
                *pace = Some(Instant::now() + reset);
            }
        }
    }
}

/// The wait a 429 asks for: `Retry-After` (seconds), else `inin-ratelimit-reset`.
fn wait_of(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    ["retry-after", "inin-ratelimit-reset"]
        .iter()
        .find_map(|name| {
            let seconds: f64 = headers.get(*name)?.to_str().ok()?.trim().parse().ok()?;
            (seconds.is_finite() && seconds >= 0.0)
                .then(|| Duration::from_secs_f64(seconds).min(MAX_WAIT))
        })
}

/// The doubling backoff of attempt `n` (from 1): 0.5 s, 1 s, 2 s, … up to 30 s.
fn backoff(n: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << n.saturating_sub(1).min(6)))
        .min(Duration::from_secs(30))
}

/// A transport error as text (its URL holds no secret: credentials travel in headers only).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if e.is_timeout() {
        text = format!("timed out ({text})");
    }
    text
}

/// What a Genesys error body says (`message`, else the body's start).
fn genesys_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Error {
        message: Option<String>,
        error_description: Option<String>,
    }
    match serde_json::from_slice::<Error>(body) {
        Ok(Error {
            message: Some(m), ..
        }) => m,
        Ok(Error {
            error_description: Some(m),
            ..
        }) => m,
        _ => String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_come_from_retry_after_then_the_reset_and_are_bounded() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(wait_of(&headers), None);
        headers.insert("inin-ratelimit-reset", "7".parse().unwrap());
        assert_eq!(wait_of(&headers), Some(Duration::from_secs(7)));
        headers.insert("retry-after", "3".parse().unwrap());
        assert_eq!(wait_of(&headers), Some(Duration::from_secs(3)));
        headers.insert("retry-after", "100000".parse().unwrap());
        assert_eq!(wait_of(&headers), Some(MAX_WAIT));
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(3), Duration::from_secs(2));
        assert_eq!(backoff(30), Duration::from_secs(30));
        assert_eq!(genesys_message(br#"{"message":"no","code":"bad"}"#), "no");
    }
}
