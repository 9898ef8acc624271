//! Storage options given on the command line (`--storage-option KEY=VALUE`) or in a report
//! job file: object-store settings on top of the cloud's environment variables. Values are
//! never printed: they often are secrets.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{Error, Result};

/// Object-store settings by key (lower case, as `object_store` spells them: `aws_region`,
/// `aws_endpoint`, `google_service_account`, `azure_storage_account_name`, …).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StorageOptions(BTreeMap<String, String>);

impl StorageOptions {
    /// Options from `KEY=VALUE` texts.
    pub fn parse<S: AsRef<str>>(pairs: &[S]) -> Result<StorageOptions> {
        let mut options = BTreeMap::new();
        for pair in pairs {
            let pair = pair.as_ref();
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                let key = pair.split(['=', ':']).next().unwrap_or_default();
                Error::Usage(format!(
                    "--storage-option {key}: expected KEY=VALUE, such as aws_region=eu-west-1"
                ))
            })?;
            options.insert(key.trim().to_ascii_lowercase(), value.to_string());
        }
        Ok(StorageOptions(options))
    }

    /// The options, by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Adds `other`'s options, which win over this one's.
    pub fn merged(&self, other: &StorageOptions) -> StorageOptions {
        let mut all = self.0.clone();
        all.extend(other.0.clone());
        StorageOptions(all)
    }
}

impl fmt::Debug for StorageOptions {
    /// Keys only: values may be secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs_and_hides_values() {
        let options =
            StorageOptions::parse(&["AWS_REGION=eu-west-1", "aws_secret_access_key=s3cr=t"])
                .unwrap();
        let pairs: Vec<_> = options.iter().collect();
        assert_eq!(
            pairs,
            [
                ("aws_region", "eu-west-1"),
                ("aws_secret_access_key", "s3cr=t")
            ]
        );
        let shown = format!("{options:?}");
        assert!(!shown.contains("s3cr"), "{shown}");
        let error = StorageOptions::parse(&["aws_secret_access_key:hunter2"]).unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }
}
