//! Failed storage requests at every step: for ingest (with its compaction), optimize and
//! vacuum, on a local lake and on the local S3 server, the N-th storage request of the command
//! fails, for every N up to the command's request count on the local lake, and on S3 for
//! every request of the commit and a spread of the uploads before it (see
//! `convlake::storage::faults`).
//! After each, the lake reads exactly the old or the new state, and the command run again
//! converges to the result of an uninterrupted run.

use std::path::Path;
use std::process::Command;

use convlake::storage::StorageOptions;
use convlake::Lake;

use crate::faults::{every_table, planned, run, s3_options};
use crate::s3::{bucket, convlake, export, ok};
use crate::util::*;

/// What a lake answers to a statement over every table (an error if a file is missing).
fn answer(location: &str, options: &StorageOptions) -> Result<String, String> {
    let lake = Lake::open(location, options).unwrap();
    let (ctx, plan) = planned(&lake, &every_table());
    run(&ctx, plan)
}

/// `command` on `lake` with the fault environment `env`.
fn command(lake: &str, args: &[&str], env: &[(&str, String)]) -> std::process::Output {
    let mut command = convlake(lake, args);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

/// Fails every request of `args` in turn on lakes that `fresh` makes at the old state (and
/// `discard` removes once checked). Returns the command's request count.
fn every_failed_request(
    dir: &Path,
    fresh: &dyn Fn(&str) -> String,
    discard: &dyn Fn(&str),
    args: &[&str],
    options: &StorageOptions,
    stride: Stride,
) -> u64 {
    let clean = fresh("clean");
    let old = answer(&clean, options).unwrap();
    let counter = dir.join(format!("requests-{}", args[0]));
    let out = command(
        &clean,
        args,
        &[(
            "CONVLAKE_TEST_COUNT_REQUESTS",
            counter.display().to_string(),
        )],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new = answer(&clean, options).unwrap();
    let requests: u64 = std::fs::read_to_string(&counter).unwrap().parse().unwrap();
    assert!(requests > 5, "{} made {requests} requests", args[0]);

    for n in stride.requests(requests) {
        let lake = fresh(&n.to_string());
        let out = command(
            &lake,
            args,
            &[("CONVLAKE_TEST_FAIL_REQUEST", n.to_string())],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            assert!(
                stderr.contains("injected fault") && !stderr.contains("panicked"),
                "{} with request {n} failed: {stderr}",
                args[0]
            );
        }
        let state = answer(&lake, options)
            .unwrap_or_else(|e| panic!("{} with request {n} failed: unreadable: {e}", args[0]));
        assert!(
            state == old || state == new,
            "{} with request {n} failed: neither the old nor the new state:\n{state}",
            args[0]
        );
        let again = command(&lake, args, &[]);
        assert!(
            again.status.success(),
            "{} after request {n} failed, run again: {}",
            args[0],
            String::from_utf8_lossy(&again.stderr)
        );
        assert_eq!(
            answer(&lake, options).unwrap(),
            new,
            "{} after request {n} failed, run again",
            args[0]
        );
        discard(&lake);
    }
    // Latency spikes on every seventh request change nothing.
    let lake = fresh("slow");
    let out = command(
        &lake,
        args,
        &[("CONVLAKE_TEST_SLOW_REQUESTS", "7:300".into())],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(answer(&lake, options).unwrap(), new);
    discard(&lake);
    discard(&clean);
    requests
}

/// Which requests to fail.
#[derive(Clone, Copy)]
pub(crate) enum Stride {
    /// Every one.
    Every,
    /// The last `tail` (where the commit is: claim, plan, Delta commits, lake record,
    /// settling) and about `spread` more spread evenly over those before (the data files).
    Sampled { tail: u64, spread: u64 },
}

impl Stride {
    pub(crate) fn requests(self, count: u64) -> Vec<u64> {
        match self {
            Stride::Every => (1..=count).collect(),
            Stride::Sampled { tail, spread } => {
                let tail_from = count.saturating_sub(tail) + 1;
                let step = (tail_from / spread.max(1)).max(1);
                (1..tail_from)
                    .step_by(step as usize)
                    .chain(tail_from..=count)
                    .collect()
            }
        }
    }
}

/// Three small ingests, without compaction: the state the commands start from.
fn old_state(lake: &str, inputs: &[String]) {
    for input in inputs {
        ok(convlake(lake, &["ingest", "--no-compact", input]));
    }
}

fn inputs(dir: &Path) -> (Vec<String>, String) {
    let first = export(dir, 120, 101, 0.5);
    let reexport = first.replace(".ndjson", ".reexport.ndjson");
    let inputs = vec![first, export(dir, 60, 102, 0.0), export(dir, 60, 103, 0.0)];
    (inputs, reexport)
}

/// [`every_failed_request`] for ingest of `reexport`, then optimize, then vacuum: their
/// request counts.
fn every_command(
    dir: &Path,
    fresh: &dyn Fn(&str) -> String,
    discard: &dyn Fn(&str),
    reexport: &str,
    options: &StorageOptions,
    stride: Stride,
) -> [u64; 3] {
    [&["ingest", reexport][..], &["optimize"], &["vacuum"]]
        .map(|args| every_failed_request(dir, fresh, discard, args, options, stride))
}

#[test]
fn every_failed_request_of_a_local_lakes_commands_leaves_the_old_or_the_new_state() {
    let dir = tempfile::tempdir().unwrap();
    let (inputs, reexport) = inputs(dir.path());
    let base = dir.path().join("base");
    old_state(&base.to_string_lossy(), &inputs);
    let fresh = |tag: &str| {
        let copy = dir
            .path()
            .join(format!("lake-{tag}-{}", uuid::Uuid::new_v4().simple()));
        run_ok(Command::new("cp").arg("-a").arg(&base).arg(&copy));
        copy.to_string_lossy().into_owned()
    };
    let discard = |lake: &str| std::fs::remove_dir_all(lake).unwrap();
    let options = StorageOptions::default();
    let counts = every_command(
        dir.path(),
        &fresh,
        &discard,
        &reexport,
        &options,
        Stride::Every,
    );
    println!(
        "requests on a local lake: ingest {}, optimize {}, vacuum {}",
        counts[0], counts[1], counts[2]
    );
}

/// On the local S3 server (a Python process, about 6 s per failed run of a debug build), every
/// request of the commit and a spread of the uploads before it.
const S3_STRIDE: Stride = Stride::Sampled {
    tail: 25,
    spread: 12,
};

#[test]
fn every_failed_request_of_an_s3_lakes_commands_leaves_the_old_or_the_new_state() {
    let dir = tempfile::tempdir().unwrap();
    let (inputs, reexport) = inputs(dir.path());
    let options = s3_options();
    // The old state made once, and copied into a bucket of its own for every run (the
    // server lists a bucket by going through all its keys), emptied once checked.
    let base = bucket("faults-base");
    old_state(&base, &inputs);
    let base_lake = Lake::open(&base, &options).unwrap();
    let objects: Vec<_> = base_lake
        .list("")
        .unwrap()
        .into_iter()
        .map(|o| {
            let bytes = base_lake.read(&o.path).unwrap().unwrap();
            (o.path, bytes)
        })
        .collect();
    let fresh = |tag: &str| {
        let location = bucket(&format!("faults-{tag}-{}", uuid::Uuid::new_v4().simple()));
        let lake = Lake::open(&location, &options).unwrap();
        for (path, bytes) in &objects {
            lake.put(path, bytes.to_vec()).unwrap();
        }
        location
    };
    let discard = |location: &str| {
        let lake = Lake::open(location, &options).unwrap();
        for object in lake.list("").unwrap() {
            lake.delete(&object.path).unwrap();
        }
    };
    let counts = every_command(dir.path(), &fresh, &discard, &reexport, &options, S3_STRIDE);
    println!(
        "requests on S3: ingest {}, optimize {}, vacuum {}",
        counts[0], counts[1], counts[2]
    );
}
