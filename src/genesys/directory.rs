//! The org's directory: users (`state=any`: departed agents still own history), queues,
//! wrap-up codes, divisions, flows, skills, languages and teams, each listed whole over its
//! pages (`nextUri`, else `pageNumber` up to `pageCount`). A kind the OAuth client may not
//! read (403) is a warning that names the permission, never a failure of the pull.

use reqwest::Method;
use serde_json::Value;

use super::client::Client;

/// One kind of the directory: its name in the lake, its listing and the permission it needs.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// `user`, `queue`, `wrapup`, `division`, `flow`, `skill`, `language`, `team`.
    pub name: &'static str,
    /// The listing's path and fixed query.
    pub path: &'static str,
    /// The permission the OAuth client's role needs to read it.
    pub permission: &'static str,
}

/// Every kind a pull snapshots.
pub const KINDS: &[Kind] = &[
    Kind {
        name: "user",
        path: "/api/v2/users?state=any",
        permission: "directory:user:view",
    },
    Kind {
        name: "queue",
        path: "/api/v2/routing/queues?",
        permission: "routing:queue:view",
    },
    Kind {
        name: "wrapup",
        path: "/api/v2/routing/wrapupcodes?",
        permission: "routing:wrapupCode:view",
    },
    Kind {
        name: "division",
        path: "/api/v2/authorization/divisions?",
        permission: "authorization:division:view",
    },
    Kind {
        name: "flow",
        path: "/api/v2/flows?includeSchemas=false",
        permission: "architect:flow:view",
    },
    Kind {
        name: "skill",
        path: "/api/v2/routing/skills?",
        permission: "routing:skill:manage",
    },
    Kind {
        name: "language",
        path: "/api/v2/routing/languages?",
        permission: "routing:skill:manage",
    },
    Kind {
        name: "team",
        path: "/api/v2/teams?",
        permission: "groups:team:view",
    },
];

/// Most pages one listing may have (100 entities a page).
const MAX_PAGES: u32 = 5_000;

/// The entities of `kind`, or `None` when the client may not read them (a warning is
/// printed).
pub async fn list(client: &Client, kind: &Kind) -> anyhow::Result<Option<Vec<Value>>> {
    let mut entities = Vec::new();
    let separator = if kind.path.ends_with('?') { "" } else { "&" };
    let mut path = format!("{}{separator}pageSize=100&pageNumber=1", kind.path);
    for number in 1..=MAX_PAGES {
        let answer = client
            .send_allowing(Method::GET, &path, None, &[403, 404])
            .await?;
        if answer.status == 403 || answer.status == 404 {
            eprintln!(
                "warning: the {}s of the org were not read ({}): give the OAuth client's role the permission {} to have their names",
                kind.name, answer.status, kind.permission
            );
            return Ok(None);
        }
        let page: Value = serde_json::from_slice(&answer.body)
            .map_err(|e| anyhow::anyhow!("GET {path}: not a JSON listing: {e}"))?;
        let got = page["entities"].as_array().cloned().unwrap_or_default();
        let empty = got.is_empty();
        entities.extend(got);
        let next = page["nextUri"].as_str().filter(|u| !u.is_empty());
        let count = page["pageCount"].as_u64().unwrap_or(0);
        path = match next {
            Some(uri) if !empty => relative(uri),
            _ if !empty && u64::from(number) < count => {
                format!(
                    "{}{separator}pageSize=100&pageNumber={}",
                    kind.path,
                    number + 1
                )
            }
            _ => return Ok(Some(entities)),
        };
    }
    anyhow::bail!("the {}s listing has more than {MAX_PAGES} pages", kind.name)
}

/// A `nextUri` as a path below the API (Genesys gives it relative; an absolute one loses its
/// host, so the request goes to the API the client was given).
fn relative(uri: &str) -> String {
    match uri.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/".into(), |i| rest[i..].to_string()),
        None => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn next_uris_stay_on_the_api_given() {
        assert_eq!(
            super::relative("/api/v2/users?pageNumber=2"),
            "/api/v2/users?pageNumber=2"
        );
        assert_eq!(
            super::relative("https://api.mypurecloud.com/api/v2/teams?after=x"),
            "/api/v2/teams?after=x"
        );
    }
}
