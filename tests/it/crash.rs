//! Crash safety: a real `convlake ingest` process is killed (SIGKILL) at many points of its
//! work, and made to abort right after each of its Delta table commits (between two of them,
//! and after the last one before the lake record). After each crash convlake reads either the
//! state before the ingest or the state after it, never a mix; running the same ingest again
//! then ends in exactly the state an uninterrupted run gives.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use convlake::generate::{write_export, ExportFormat, GenerateOptions};

use crate::util::{assert_same, binary, content};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn ingest_command(lake: &Path, inputs: &[&Path]) -> Command {
    let mut command = Command::new(binary());
    command
        .arg("--lake")
        .arg(lake)
        .arg("ingest")
        .args(inputs)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

#[test]
fn killed_ingests_leave_old_or_new_state_and_rerun_converges() {
    let dir = tempfile::tempdir().unwrap();
    let early = dir.path().join("early.ndjson");
    write_export(
        &GenerateOptions {
            conversations: 600,
            seed: 21,
            reexport_share: 0.3,
            ..Default::default()
        },
        ExportFormat::Ndjson,
        100,
        false,
        &early,
    )
    .unwrap();
    let later = dir.path().join("early.reexport.ndjson");
    let fresh = dir.path().join("fresh.ndjson");
    write_export(
        &GenerateOptions {
            conversations: 600,
            seed: 22,
            ..Default::default()
        },
        ExportFormat::Ndjson,
        100,
        false,
        &fresh,
    )
    .unwrap();

    // The state before: the early export. The ingest under test updates and adds.
    let base = dir.path().join("base");
    assert!(ingest_command(&base, &[&early]).status().unwrap().success());
    let before = content(&base);

    let reference = dir.path().join("reference");
    copy_dir(&base, &reference);
    let started = Instant::now();
    assert!(ingest_command(&reference, &[&later, &fresh])
        .status()
        .unwrap()
        .success());
    let full_run = started.elapsed();
    let after = content(&reference);
    assert_ne!(before["conversations"].len(), after["conversations"].len());

    // Timed kills spread over one and a half times the reference run (about 19 of them within
    // it: a run under load from the other tests can take longer than the reference did, and
    // the last kills must still land after the commit), then crashes right after the 1st to
    // 6th table commit (six tables change: the last of these falls between the last table
    // commit and the lake record).
    let kills = 28;
    let (mut saw_old, mut saw_new) = (0, 0);
    for k in 0..kills + 6 {
        let lake = dir.path().join(format!("kill-{k}"));
        copy_dir(&base, &lake);
        if k < kills {
            let mut child = ingest_command(&lake, &[&later, &fresh]).spawn().unwrap();
            std::thread::sleep(
                full_run.mul_f64(1.5 * k as f64 / (kills - 1) as f64)
                    + Duration::from_millis(k as u64 % 3),
            );
            let _ = child.kill();
            child.wait().unwrap();
        } else {
            let after_commits = (k - kills + 1).to_string();
            let status = ingest_command(&lake, &[&later, &fresh])
                .env("CONVLAKE_TEST_CRASH_AFTER_COMMITS", &after_commits)
                .status()
                .unwrap();
            assert!(!status.success(), "no crash after {after_commits} commits");
            // Readers through convlake see the old state: no lake record yet.
            assert_same(&content(&lake), &before);
        }

        let state = content(&lake);
        if state == before {
            saw_old += 1;
        } else {
            assert_same(&state, &after);
            saw_new += 1;
        }
        assert!(
            ingest_command(&lake, &[&later, &fresh])
                .status()
                .unwrap()
                .success(),
            "re-run after kill {k} failed"
        );
        assert_same(&content(&lake), &after);
        // Leftovers of the killed run are gone after the re-run.
        assert!(
            !lake.join("_convlake/staging").exists(),
            "staging left after kill {k}"
        );
    }
    assert!(
        saw_old > 0 && saw_new > 0,
        "kills should land before and after the commit: old {saw_old}, new {saw_new}"
    );
}
