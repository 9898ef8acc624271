//! Lake settings kept in the lake (`_convlake/settings.json`), so that every command and
//! every machine that opens the lake honours them.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lake::layout;
use crate::storage::Lake;

/// The settings of one lake.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// How long files superseded by a commit stay for time travel (`--as-of`), in seconds.
    /// `0` (the default) removes them right after the commit, so that plain Parquet readers
    /// of the table directories see exactly the latest state.
    #[serde(default)]
    pub keep_history_seconds: u64,
}

impl Settings {
    /// The settings of the lake at `lake` (the defaults when it has none).
    pub fn load(lake: &Lake) -> Result<Settings> {
        match lake.read(layout::SETTINGS_FILE)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Lake {
                path: lake.describe(layout::SETTINGS_FILE),
                reason: format!("the lake settings are not valid: {e}"),
                hint: "fix the JSON by hand, or remove the file to go back to the defaults".into(),
            }),
            None => Ok(Settings::default()),
        }
    }

    /// Writes the settings (holding the writer's lock).
    pub fn save(&self, lake: &Lake) -> Result<()> {
        lake.put(layout::SETTINGS_FILE, serde_json::to_vec_pretty(self)?)
    }

    /// Whether superseded files stay after a commit.
    pub fn keeps_history(&self) -> bool {
        self.keep_history_seconds > 0
    }
}
