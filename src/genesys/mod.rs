//! Genesys Cloud as a source of the lake: where an org's API is, how convlake logs in to it,
//! and the requests `convlake pull` makes.
//!
//! - this module: the regions of the Genesys Cloud SDKs and how a region key or a domain
//!   becomes the API and login URLs; the OAuth client's credentials (the secret never shows in
//!   `Debug`, output, logs or errors);
//! - [`client`]: one HTTP client of the API: client-credentials login (a new token before it
//!   expires and on a 401), pacing from the `inin-ratelimit-*` headers, `Retry-After` on 429,
//!   bounded retries with backoff for 5xx and transport errors, and counts of all of it;
//! - [`jobs`]: the analytics conversation detail jobs (availability, submit, poll, page by
//!   cursor, delete);
//! - [`directory`]: the org's users, queues, wrap-up codes, divisions, flows, skills,
//!   languages and teams, listed whole (their names for the lake's `directory` table).

pub mod client;
pub mod directory;
pub mod jobs;

/// The regions of Genesys Cloud, as the SDKs list them: (region key, domain). The API is at
/// `https://api.{domain}`, the login at `https://login.{domain}`.
pub const REGIONS: &[(&str, &str)] = &[
    ("us-east-1", "mypurecloud.com"),
    ("eu-west-1", "mypurecloud.ie"),
    ("ap-southeast-2", "mypurecloud.com.au"),
    ("ap-northeast-1", "mypurecloud.jp"),
    ("eu-central-1", "mypurecloud.de"),
    ("us-west-2", "usw2.pure.cloud"),
    ("ca-central-1", "cac1.pure.cloud"),
    ("ap-northeast-2", "apne2.pure.cloud"),
    ("eu-west-2", "euw2.pure.cloud"),
    ("ap-south-1", "aps1.pure.cloud"),
    ("us-east-2", "use2.us-gov-pure.cloud"),
    ("sa-east-1", "sae1.pure.cloud"),
    ("me-central-1", "mec1.pure.cloud"),
    ("ap-northeast-3", "apne3.pure.cloud"),
    ("eu-central-2", "euc2.pure.cloud"),
    ("mx-central-1", "mxc1.pure.cloud"),
    ("ap-southeast-1", "apse1.pure.cloud"),
    ("eusc-de-east-1", "edee1.eusc-pure.cloud"),
];

/// Where an org's API and login are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The API's base URL, without a trailing `/`.
    pub api: String,
    /// The login's base URL (`/oauth/token` is below it), without a trailing `/`.
    pub login: String,
}

impl Endpoints {
    /// The endpoints of a region key (`eu-central-1`, `eu_central_1`) or a domain
    /// (`mypurecloud.de`, `api.usw2.pure.cloud`, `https://api.mypurecloud.ie`).
    pub fn region(region: &str) -> anyhow::Result<Endpoints> {
        let key = region.trim().to_ascii_lowercase().replace('_', "-");
        let known = REGIONS
            .iter()
            .find(|(k, d)| *k == key || *d == key)
            .map(|(_, d)| d.to_string());
        let domain = match known {
            Some(domain) => domain,
            None => {
                let bare = key
                    .trim_start_matches("https://")
                    .trim_start_matches("http://")
                    .trim_end_matches('/');
                let bare = bare
                    .strip_prefix("api.")
                    .or_else(|| bare.strip_prefix("login."))
                    .unwrap_or(bare);
                anyhow::ensure!(
                    REGIONS.iter().any(|(_, d)| *d == bare),
                    "--region {region:?} is neither a Genesys Cloud region nor one of its domains; use one of: {}",
                    REGIONS
                        .iter()
                        .map(|(k, d)| format!("{k} ({d})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                bare.to_string()
            }
        };
        Ok(Endpoints {
            api: format!("https://api.{domain}"),
            login: format!("https://login.{domain}"),
        })
    }

    /// Any other base URLs (a proxy, a test server); the login defaults to the API's.
    pub fn urls(api: &str, login: Option<&str>) -> anyhow::Result<Endpoints> {
        let clean = |url: &str, what: &str| -> anyhow::Result<String> {
            let url = url.trim().trim_end_matches('/');
            anyhow::ensure!(
                url.starts_with("https://") || url.starts_with("http://"),
                "{what} {url:?} is not an http(s) URL"
            );
            Ok(url.to_string())
        };
        let api = clean(api, "--api-url")?;
        let login = match login {
            Some(login) => clean(login, "--login-url")?,
            None => api.clone(),
        };
        Ok(Endpoints { api, login })
    }
}

/// A secret that never shows: `Debug` and `Display` print `***`.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps `text`.
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    /// The secret itself, for the one request that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// An OAuth client of the org (client credentials grant).
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The client id.
    pub id: String,
    /// The client secret.
    pub secret: Secret,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_found_by_key_or_domain_and_others_are_refused_with_the_list() {
        assert_eq!(REGIONS.len(), 18);
        for given in [
            "eu-central-1",
            "EU_CENTRAL_1",
            "mypurecloud.de",
            "https://api.mypurecloud.de/",
        ] {
            let e = Endpoints::region(given).unwrap();
            assert_eq!(e.api, "https://api.mypurecloud.de", "{given}");
            assert_eq!(e.login, "https://login.mypurecloud.de", "{given}");
        }
        assert_eq!(
            Endpoints::region("usw2.pure.cloud").unwrap().api,
            "https://api.usw2.pure.cloud"
        );
        let error = Endpoints::region("mars-1").unwrap_err().to_string();
        assert!(error.contains("eu-west-2 (euw2.pure.cloud)"), "{error}");
        let e = Endpoints::urls("http://127.0.0.1:9/", None).unwrap();
        assert_eq!(
            (e.api.as_str(), e.login.as_str()),
            ("http://127.0.0.1:9", "http://127.0.0.1:9")
        );
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "***");
    }
}
