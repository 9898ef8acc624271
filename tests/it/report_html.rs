//! Reports people read, through the real CLI: names beside ids from a names file, else from
//! the export (a generated center shaped like real exports: agents without
//! `participantName`, wrap-up codes as ids), and the HTML report in a real browser (Debian's
//! Chromium, headless, every host name unresolvable): it renders, holds its charts and names,
//! requests nothing, logs no console message, prints to PDF pages that poppler renders, and
//! is the same bytes when made twice.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{binary, run_ok};

const INTERVAL: &str = "2026-11-02T00:00:00Z/2026-11-05T00:00:00Z";

/// A lake of three days of a small center, and the names file of its directory.
fn center(dir: &Path) -> (PathBuf, PathBuf) {
    let export = dir.join("export.ndjson");
    let names = dir.join("names.csv");
    run_ok(
        Command::new(binary())
            .args(["generate", "--conversations", "900", "--days", "3"])
            .args(["--start", "2026-11-02T00:00:00.000Z", "--out"])
            .arg(&export)
            .arg("--names")
            .arg(&names),
    );
    let lake = dir.join("lake");
    run_ok(
        Command::new(binary())
            .arg("--lake")
            .arg(&lake)
            .arg("ingest")
            .arg(&export),
    );
    (lake, names)
}

/// The names file as (kind, id) → name.
fn names_of(file: &Path) -> BTreeMap<(String, String), String> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let mut f = l.splitn(3, ',');
            let (kind, id, name) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
            ((kind.into(), id.into()), name.trim_matches('"').into())
        })
        .collect()
}

/// The rows of a CSV report (no field of these reports holds a comma or a quote).
fn csv_rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(!text.contains('"'), "{}: a quoted field", path.display());
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            header
                .iter()
                .zip(l.split(','))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// `report run --all` as CSV into `out`, with `extra` arguments.
fn reports_csv(lake: &Path, out: &Path, extra: &[&str]) {
    run_ok(
        Command::new(binary())
            .arg("--lake")
            .arg(lake)
            .args(["report", "run", "--all", "--interval", INTERVAL, "--out"])
            .arg(out)
            .args(extra),
    );
}

#[test]
fn names_come_from_the_names_file_else_queues_from_the_export_and_agents_never_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, names_file) = center(dir.path());
    let names = names_of(&names_file);
    let with = dir.path().join("with");
    reports_csv(&lake, &with, &["--names", names_file.to_str().unwrap()]);
    let without = dir.path().join("without");
    reports_csv(&lake, &without, &[]);

    let check = |file: &str, id: &str, name: &str, kind: &str, from_file: bool| {
        let rows = csv_rows(&(if from_file { &with } else { &without }).join(file));
        let mut checked = 0;
        for row in &rows {
            let Some(value) = row.get(id).filter(|v| !v.is_empty()) else {
                continue;
            };
            let known = names.get(&(kind.to_string(), value.clone()));
            let want = match (from_file, kind) {
                (true, _) | (false, "queue") => known
                    .cloned()
                    .unwrap_or_else(|| panic!("{file}: {kind} {value} is not in the names file")),
                // Nothing in an export names an agent or a wrap-up code: a short id.
                (false, _) => format!("{}…", &value[..8]),
            };
            assert_eq!(
                row[name], want,
                "{file}: {name} of {value} (from file: {from_file})"
            );
            checked += 1;
        }
        assert!(checked > 10, "{file}: only {checked} rows with a {id}");
    };
    for from_file in [true, false] {
        check(
            "queue_performance.csv",
            "queue_id",
            "queue_name",
            "queue",
            from_file,
        );
        check(
            "agent_performance.csv",
            "user_id",
            "agent_name",
            "user",
            from_file,
        );
        check(
            "wrap_up_codes.csv",
            "wrap_up_code",
            "wrap_up_name",
            "wrapup",
            from_file,
        );
        check(
            "transfers.csv",
            "from_queue_id",
            "from_queue_name",
            "queue",
            from_file,
        );
    }
    // The machine outputs keep exact numbers, with the unit in the column name.
    let queue = csv_rows(&with.join("queue_performance.csv"));
    assert!(queue[0].contains_key("asa_ms") && queue[0].contains_key("service_level_pct"));
}

/// Chromium, installed with poppler-utils on first use (tests run in parallel: one installs).
fn chromium() -> PathBuf {
    let path = PathBuf::from("/usr/bin/chromium");
    let lock =
        std::fs::File::create(Path::new(env!("CARGO_TARGET_TMPDIR")).join("apt.lock")).unwrap();
    lock.lock().unwrap();
    if !path.exists() || !Path::new("/usr/bin/pdftoppm").exists() {
        let installed = Command::new("sh")
            .args([
                "-c",
                "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils",
            ])
            .status()
            .expect("apt-get is needed to install chromium and poppler-utils");
        assert!(
            installed.success(),
            "apt-get install chromium poppler-utils failed"
        );
    }
    path
}

/// What a headless Chromium did with `page`: its stderr, and the URLs of the requests its
/// network log holds, Chromium's own background requests left out.
struct Visit {
    stderr: String,
    requests: BTreeSet<String>,
}

/// Opens `page` in headless Chromium with `action` (`--dump-dom`, `--screenshot=…`,
/// `--print-to-pdf=…`), every host name unresolvable; returns its stdout and what it did.
fn browse(page: &Path, dir: &Path, action: &[&str]) -> (String, Visit) {
    let profile = tempfile::tempdir_in(dir).unwrap();
    let net_log = profile.path().join("net.json");
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1200,1600",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--log-net-log={}", net_log.display()))
        .args(action)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = std::fs::read_to_string(&net_log).unwrap_or_default();
    let own = [
        "google.com/",
        "googleapis.com/",
        "gstatic.com/",
        "gvt1.com/",
    ];
    let requests = log
        .split("\"url\":\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|u| u.starts_with("http") && !own.iter().any(|o| u.contains(o)))
        .map(str::to_string)
        .collect();
    let visit = Visit {
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        requests,
    };
    (String::from_utf8_lossy(&out.stdout).into_owned(), visit)
}

#[test]
fn the_html_report_renders_offline_in_a_browser_with_its_charts_and_names_and_prints() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, names_file) = center(dir.path());
    let names = names_of(&names_file);
    std::fs::copy(&names_file, dir.path().join("directory.csv")).unwrap();
    let job = dir.path().join("nightly.toml");
    std::fs::write(
        &job,
        format!(
            "lake = {lake:?}\nout = {:?}\nformat = \"html\"\nnames = \"directory.csv\"\n\n[[run]]\nreports = [\"all\"]\ninterval = \"{INTERVAL}\"\ntz = \"Europe/Berlin\"\ngranularity = \"PT1H\"\n",
            dir.path().join("out")
        ),
    )
    .unwrap();
    run_ok(Command::new(binary()).args(["report", "job"]).arg(&job));
    let page = dir.path().join("out/report.html");
    let html = std::fs::read(&page).unwrap();
    let first = html.clone();
    run_ok(Command::new(binary()).args(["report", "job"]).arg(&job));
    assert!(
        std::fs::read(&page).unwrap() == first,
        "the same lake and job give the same bytes"
    );
    let html = String::from_utf8(html).unwrap();
    // Self-contained: nothing to fetch (the SVG namespace is a name, not a request).
    for reference in ["src=", "href=", "@import", "url(", "https://"] {
        assert!(
            !html.contains(reference),
            "the report references {reference}"
        );
    }

    // The detector works: a page with one external image is seen to request it.
    let control = dir.path().join("control.html");
    std::fs::write(
        &control,
        "<img src=\"https://example.com/a.png\"><script>console.error('x')</script>",
    )
    .unwrap();
    let (_, visit) = browse(&control, dir.path(), &["--dump-dom"]);
    assert!(
        visit.requests.contains("https://example.com/a.png"),
        "{:?}",
        visit.requests
    );
    assert!(
        visit.stderr.contains(":CONSOLE"),
        "console messages are seen"
    );

    let (dom, visit) = browse(&page, dir.path(), &["--dump-dom"]);
    assert!(
        visit.requests.is_empty(),
        "the report requested {:?}",
        visit.requests
    );
    let console: Vec<&str> = visit
        .stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    let queues = csv_queue_names(&lake, dir.path());
    assert!(queues.len() >= 5, "{queues:?}");
    assert_eq!(
        dom.matches("<svg class=\"chart intervals\"").count(),
        queues.len(),
        "a chart per queue"
    );
    assert_eq!(
        dom.matches("<svg class=\"chart ranked\"").count(),
        1,
        "wrap-up codes"
    );
    assert_eq!(
        dom.matches("<svg class=\"chart columns\"").count(),
        2,
        "abandons, days"
    );
    for queue in &queues {
        assert!(
            dom.contains(&format!("<figcaption>{queue}</figcaption>")),
            "{queue}"
        );
    }
    let agents: Vec<&String> = names
        .iter()
        .filter(|((kind, _), _)| kind == "user")
        .map(|(_, n)| n)
        .collect();
    let shown = agents.iter().filter(|a| dom.contains(a.as_str())).count();
    assert!(
        shown * 2 > agents.len(),
        "{shown} of {} agents named",
        agents.len()
    );
    for tile in [
        "Offered",
        "Answered",
        "Service level",
        "Abandon rate",
        "ASA",
        "AHT",
    ] {
        assert!(
            dom.contains(&format!("data-tile=\"{tile}\"")),
            "tile {tile}"
        );
    }

    // A screenshot that is not blank (a white page compresses to a few KB).
    let shot = dir.path().join("report.png");
    browse(
        &page,
        dir.path(),
        &[&format!("--screenshot={}", shot.display())],
    );
    let size = std::fs::metadata(&shot).unwrap().len();
    assert!(size > 40_000, "the screenshot is {size} bytes");
    if let Some(keep) = std::env::var_os("CONVLAKE_REPORT_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }

    // Printed to PDF: pages that poppler renders, the title on the first.
    let pdf = dir.path().join("report.pdf");
    browse(
        &page,
        dir.path(),
        &[
            "--no-pdf-header-footer",
            &format!("--print-to-pdf={}", pdf.display()),
        ],
    );
    let pages = dir.path().join("page");
    run_ok(
        Command::new("pdftoppm")
            .args(["-r", "30", "-png"])
            .arg(&pdf)
            .arg(&pages),
    );
    let rendered: Vec<u64> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("page-"))
        .map(|e| e.metadata().unwrap().len())
        .collect();
    assert!(rendered.len() >= 3, "{} pages", rendered.len());
    assert!(
        rendered.iter().all(|&b| b > 2_000),
        "a blank page: {rendered:?}"
    );
    let text = run_ok(
        Command::new("pdftotext")
            .args(["-f", "1", "-l", "1"])
            .arg(&pdf)
            .arg("-"),
    );
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("Contact center report") && text.contains(&queues[0]),
        "{text}"
    );
}

/// The queue names of the interval, from the CSV output (busiest first is the HTML's order;
/// these are sorted by name).
fn csv_queue_names(lake: &Path, dir: &Path) -> Vec<String> {
    let out = dir.join("csv");
    reports_csv(lake, &out, &[]);
    let rows = csv_rows(&out.join("queue_performance.csv"));
    // Metrics whose session names no queue have a row (and a chart) of their own.
    let names: BTreeSet<String> = rows
        .iter()
        .map(|r| match r["queue_id"].as_str() {
            "" => "(no queue)".to_string(),
            _ => r["queue_name"].clone(),
        })
        .collect();
    names.into_iter().collect()
}
