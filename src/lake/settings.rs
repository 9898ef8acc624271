//! Lake settings kept in the lake (`_convlake/settings.json`), so that every command and
//! every machine that opens the lake honours them.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lake::layout;

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
    pub fn load(lake: &Path) -> Result<Settings> {
        let path = layout::settings_path(lake);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Lake {
                path: path.clone(),
                reason: format!("the lake settings are not valid: {e}"),
                hint: "fix the JSON by hand, or remove the file to go back to the defaults".into(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(e) => Err(Error::io("cannot read", path, e)),
        }
    }

    /// Writes the settings (holding the writer's lock).
    pub fn save(&self, lake: &Path) -> Result<()> {
        let path = layout::settings_path(lake);
        let dir = layout::meta_dir(lake);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        let temp = dir.join(".settings.json.tmp");
        std::fs::write(&temp, serde_json::to_vec_pretty(self)?)
            .map_err(|e| Error::io("cannot write", &temp, e))?;
        std::fs::rename(&temp, &path).map_err(|e| Error::io("cannot write", &path, e))
    }

    /// Whether superseded files stay after a commit.
    pub fn keeps_history(&self) -> bool {
        self.keep_history_seconds > 0
    }
}
