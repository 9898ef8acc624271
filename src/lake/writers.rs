//! Writers in progress on a lake on object storage, visible to each other.
//!
//! Object storage has no lock: several writers may work at once, and the files of one that is
//! still uploading look like the leftovers of one that died. So every writer (ingest,
//! optimize, vacuum, `pull`'s commits) keeps a **heartbeat** at `_convlake/writers/<id>.json`,
//! put again every [`HEARTBEAT_MS`] for as long as it runs. Leftover removal then:
//!
//! - removes nothing while another writer's heartbeat is fresh (younger than [`STALE_MS`]);
//! - judges ages by the store's clock (the time stamp of its own heartbeat, just put), never
//!   by its own, so a machine whose clock runs ahead removes nothing early;
//! - deletes a stale heartbeat before any file, which **revokes** that writer: one that was only
//!   paused finds its heartbeat gone and fails before it commits (see [`check_alive`]), instead
//!   of committing a plan that names files removed meanwhile.
//!
//! A local lake needs none of this: its OS lock admits one writer at a time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::model::format_timestamp;
use crate::storage::Lake;

/// Where the heartbeats are.
pub const WRITERS_DIR: &str = "_convlake/writers";

/// How often a writer puts its heartbeat again.
pub const HEARTBEAT_MS: u64 = 30_000;

/// A heartbeat this old (by the store's clock) is a writer that died or stalls.
pub const STALE_MS: i64 = 5 * 60_000;

/// The heartbeat of this process's writer of each lake (by the lake's display name).
fn own() -> &'static Mutex<HashMap<String, Beat>> {
    static OWN: OnceLock<Mutex<HashMap<String, Beat>>> = OnceLock::new();
    OWN.get_or_init(Default::default)
}

#[derive(Clone)]
struct Beat {
    path: String,
    revoked: Arc<AtomicBool>,
}

/// A writer's heartbeat, put until this is dropped (then removed).
pub struct Heartbeat {
    lake: Lake,
    beat: Beat,
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Heartbeat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Heartbeat({})", self.beat.path)
    }
}

impl Heartbeat {
    /// Starts the heartbeat of a writer of `lake` (`None` for a local lake, whose lock is
    /// enough).
    pub fn start(lake: &Lake, operation: &str) -> Result<Option<Heartbeat>> {
        if lake.local_root().is_some() {
            return Ok(None);
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let path = format!("{WRITERS_DIR}/{id}.json");
        let body = serde_json::to_vec(&serde_json::json!({
            "operation": operation,
            "started_at": format_timestamp(chrono::Utc::now().timestamp_millis()),
            "pid": std::process::id(),
        }))?;
        lake.put(&path, body.clone())?;
        let beat = Beat {
            path: path.clone(),
            revoked: Arc::new(AtomicBool::new(false)),
        };
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let thread = {
            let (lake, beat, stop) = (lake.clone(), beat.clone(), stop.clone());
            std::thread::spawn(move || beat_until_stopped(&lake, &beat, &body, &stop))
        };
        own()
            .lock()
            .expect("heartbeats")
            .insert(lake.to_string(), beat.clone());
        Ok(Some(Heartbeat {
            lake: lake.clone(),
            beat,
            stop,
            thread: Some(thread),
        }))
    }
}

fn beat_until_stopped(lake: &Lake, beat: &Beat, body: &[u8], stop: &(Mutex<bool>, Condvar)) {
    let (stopped, wake) = stop;
    let mut done = stopped.lock().expect("heartbeat");
    loop {
        let (guard, _) = wake
            .wait_timeout(done, Duration::from_millis(heartbeat_ms()))
            .expect("heartbeat");
        done = guard;
        if *done {
            return;
        }
        // Only a heartbeat still there is renewed: one another writer removed says this
        // writer was taken for dead, and its files may be gone.
        match lake.read(&beat.path) {
            Ok(Some(_)) => {
                let _ = lake.put(&beat.path, body.to_vec());
            }
            Ok(None) => {
                beat.revoked.store(true, Ordering::SeqCst);
                return;
            }
            // A failed request is retried at the next beat.
            Err(_) => {}
        }
    }
}

/// A time setting, shorter in the tests through the environment variable `name`.
fn test_setting(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The beat interval (`CONVLAKE_TEST_HEARTBEAT_MS` in the tests).
fn heartbeat_ms() -> u64 {
    test_setting("CONVLAKE_TEST_HEARTBEAT_MS", HEARTBEAT_MS as i64) as u64
}

/// The age of a stale heartbeat (`CONVLAKE_TEST_STALE_MS` in the tests).
fn stale_ms() -> i64 {
    test_setting("CONVLAKE_TEST_STALE_MS", STALE_MS)
}

/// The age of a leftover file on object storage (`CONVLAKE_TEST_LEFTOVER_AGE_MS` in the
/// tests); see [`crate::lake::REMOTE_LEFTOVER_AGE_MS`].
pub fn leftover_age_ms() -> i64 {
    test_setting(
        "CONVLAKE_TEST_LEFTOVER_AGE_MS",
        crate::lake::REMOTE_LEFTOVER_AGE_MS,
    )
}

/// A writer held right before it commits, for the tests of slow writers
/// (`CONVLAKE_TEST_HOLD_BEFORE_COMMIT_MS`).
pub fn test_hold() {
    let hold = test_setting("CONVLAKE_TEST_HOLD_BEFORE_COMMIT_MS", 0);
    if hold > 0 {
        std::thread::sleep(Duration::from_millis(hold as u64));
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        *self.stop.0.lock().expect("heartbeat") = true;
        self.stop.1.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let mut own = own().lock().expect("heartbeats");
        if own
            .get(&self.lake.to_string())
            .is_some_and(|b| b.path == self.beat.path)
        {
            own.remove(&self.lake.to_string());
        }
        let _ = self.lake.delete(&self.beat.path);
    }
}

/// Fails when this process's writer of `lake` was taken for dead by another writer (its
/// heartbeat removed): its files may be gone, so it must not commit. Call it right before
/// putting a plan.
pub fn check_alive(lake: &Lake) -> Result<()> {
    let Some(beat) = own()
        .lock()
        .expect("heartbeats")
        .get(&lake.to_string())
        .cloned()
    else {
        return Ok(());
    };
    if beat.revoked.load(Ordering::SeqCst) || lake.read(&beat.path)?.is_none() {
        return Err(Error::Lake {
            path: lake.describe(&beat.path),
            reason: format!(
                "this command stalled for more than {} s, and another writer took it for dead and removed its unfinished files",
                stale_ms() / 1000
            ),
            hint: "run the command again; nothing of this attempt was committed".into(),
        });
    }
    Ok(())
}

/// What the heartbeats say when this process's writer looks for leftovers.
#[derive(Debug, Clone, Copy)]
pub struct Others {
    /// The store's clock now (the time stamp of this writer's own heartbeat), in
    /// milliseconds since the epoch.
    pub store_now_ms: i64,
    /// Writers other than this one whose heartbeat is fresh.
    pub live: usize,
}

/// The other writers of `lake`, seen by `own` (this writer's heartbeat): counts the live
/// ones and removes (revokes) the stale ones.
pub fn others(lake: &Lake, own: &Heartbeat) -> Result<Others> {
    let entries = lake.list(WRITERS_DIR)?;
    let store_now_ms = entries
        .iter()
        .find(|e| e.path == own.beat.path)
        .map(|e| e.modified_ms)
        .ok_or_else(|| Error::Lake {
            path: lake.describe(&own.beat.path),
            reason: "this writer's heartbeat is missing right after it was put".into(),
            hint: "another writer took this one for dead; run the command again".into(),
        })?;
    let mut live = 0;
    for entry in entries.iter().filter(|e| e.path != own.beat.path) {
        if store_now_ms - entry.modified_ms < stale_ms() {
            live += 1;
        } else {
            lake.delete(&entry.path)?;
        }
    }
    Ok(Others { store_now_ms, live })
}
