//! `--format html`: one self-contained file for a run of reports, that opens from disk with no
//! network and prints. A header (interval, time zone, granularity, service-level target, the
//! lake version and how fresh it is), KPI tiles, then a section per report: queue performance
//! as a table with a totals row and a chart per queue (small multiples on one scale), agents
//! with their handle time, wrap-up codes ranked, abandons as a histogram of time to abandon,
//! volume by day, and every other report as a table. No external script, style, font or image;
//! the charts are SVG ([`super::svg`]); a small inline script sorts tables on a click, and
//! nothing needs it to be read. The same lake and parameters give the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write;

use arrow::array::RecordBatch;
use chrono_tz::Tz;

use super::format::{count, duration, label, local_time, percent, Cells};
use super::svg::{self, escape};
use super::table::{column, numbers, strings};
use crate::reports::ReportParams;

/// One report's result, with its names already beside its ids.
pub struct Section {
    /// The report's name.
    pub report: String,
    /// What it measures (its header's first sentence).
    pub summary: String,
    /// Its rows.
    pub batch: RecordBatch,
}

/// What the header says about the data.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// The lake, as it was given.
    pub lake: String,
    /// Its version.
    pub version: Option<u64>,
    /// When that version was committed (ISO-8601).
    pub committed_at: Option<String>,
    /// How far `convlake pull` has brought Genesys's data (ISO-8601), if it filled the lake.
    pub watermark: Option<String>,
}

/// Most rows a plain table shows (the CSV output has them all).
const MAX_ROWS: usize = 500;

const STYLE: &str = include_str!("report.css");
const SCRIPT: &str = include_str!("report.js");

/// The report file for `sections` run with `params` over the lake `provenance` describes.
pub fn document(
    params: &ReportParams,
    provenance: &Provenance,
    sections: &[Section],
) -> anyhow::Result<String> {
    let tz: Tz = params.tz.parse().unwrap_or(Tz::UTC);
    let mut body = String::new();
    let (start, end) = crate::functions::parse_interval(&params.interval).unwrap_or((0, 0));
    let find = |name: &str| sections.iter().find(|s| s.report == name);
    let queues = find("queue_performance").map(|s| queue_totals(&s.batch, tz));
    let agents = find("agent_performance").map(|s| agent_totals(&s.batch));

    let _ = write!(
        body,
        r#"<header><h1>Contact center report</h1><dl class="facts"><dt>Interval</dt><dd>{} – {}</dd><dt>Time zone</dt><dd>{}</dd><dt>Granularity</dt><dd>{}</dd><dt>Service level</dt><dd>answered within {} s</dd><dt>Data</dt><dd>{}</dd></dl></header>"#,
        local_time(start, tz, false),
        local_time(end, tz, false),
        escape(&params.tz),
        escape(&params.granularity),
        params.service_level_seconds,
        escape(&freshness(provenance)),
    );
    body.push_str(&tiles(queues.as_ref(), agents.as_ref(), params));
    for section in sections {
        let _ = write!(
            body,
            r#"<section id="{0}"><h2>{1}</h2><p class="what">{2}</p>"#,
            escape(&section.report),
            escape(&label(&section.report)),
            escape(&section.summary)
        );
        match section.report.as_str() {
            "queue_performance" => {
                if let Some(q) = &queues {
                    body.push_str(&queue_section(q, params));
                }
            }
            "agent_performance" => {
                if let Some(a) = &agents {
                    body.push_str(&agent_section(a));
                }
            }
            "wrap_up_codes" => body.push_str(&wrap_up_section(&section.batch)),
            "abandons" => body.push_str(&abandons_section(&section.batch)),
            "handle_time" => body.push_str(&handle_time_section(&section.batch)),
            "daily_volume" => body.push_str(&daily_section(&section.batch, tz)?),
            _ => body.push_str(&plain_table(&section.batch, tz)?),
        }
        body.push_str("</section>");
    }
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Contact center report {}</title><style>{STYLE}</style></head><body>{body}<footer>Made by convlake {} from {}.</footer><script>{SCRIPT}</script></body></html>\n",
        escape(&params.interval),
        env!("CARGO_PKG_VERSION"),
        escape(&provenance.lake),
    ))
}

/// A query result as one HTML file: a sortable table, numbers as people write them.
pub fn results_document(title: &str, batch: &RecordBatch) -> anyhow::Result<String> {
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{0}</title><style>{STYLE}</style></head><body><h1>{0}</h1>{1}<script>{SCRIPT}</script></body></html>\n",
        escape(title),
        plain_table(batch, Tz::UTC)?
    ))
}

/// "lake version 12, committed …; pulled up to …".
fn freshness(p: &Provenance) -> String {
    let mut text = match (p.version, &p.committed_at) {
        (Some(v), Some(at)) => format!("lake version {v}, committed {at}"),
        (Some(v), None) => format!("lake version {v}"),
        _ => "lake".into(),
    };
    if let Some(w) = &p.watermark {
        let _ = write!(text, "; Genesys data complete up to {w}");
    }
    text
}

/// The local date of an instant in `tz` (`2026-11-03`).
fn local_date(ms: i64, tz: Tz) -> String {
    let time = local_time(ms, tz, false);
    time.split(' ').next().unwrap_or(&time).to_string()
}

/// One queue's totals over the interval, and its intervals.
#[derive(Debug, Default)]
struct Queue {
    name: String,
    id: String,
    offered: f64,
    answered: f64,
    abandoned: f64,
    short: f64,
    flow_outs: f64,
    answered_ms: f64,
    over: f64,
    max_wait: Option<f64>,
    intervals: BTreeMap<i64, svg::Interval>,
}

impl Queue {
    /// Service level % as the report defines it, over the whole interval.
    fn level(&self, params: &ReportParams) -> Option<f64> {
        let mut denominator = self.answered + self.abandoned;
        if params.service_level_include_flow_outs {
            denominator += self.flow_outs;
        }
        if params.service_level_exclude_short_abandons {
            denominator -= self.short;
        }
        (denominator > 0.0).then(|| 100.0 * (self.answered - self.over) / denominator)
    }

    fn add(&mut self, other: &Queue) {
        self.offered += other.offered;
        self.answered += other.answered;
        self.abandoned += other.abandoned;
        self.short += other.short;
        self.flow_outs += other.flow_outs;
        self.answered_ms += other.answered_ms;
        self.over += other.over;
        self.max_wait = match (self.max_wait, other.max_wait) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

/// The queues of a queue_performance result, busiest first, and their totals.
struct Queues {
    queues: Vec<Queue>,
    total: Queue,
    /// Every interval start of the report (ms), for charts on one time axis.
    starts: Vec<i64>,
    tz: Tz,
}

fn queue_totals(batch: &RecordBatch, tz: Tz) -> Queues {
    let ids = strings(batch, "queue_id");
    let names = strings(batch, "queue_name");
    let starts = column(batch, "interval_start")
        .map(|c| {
            let cells = Cells::new("interval_start", c.as_ref(), tz).ok();
            (0..batch.num_rows())
                .map(|r| cells.as_ref().and_then(|c| c.instant(r)))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let get = |name: &str| numbers(batch, name);
    let (offered, answered, abandoned) = (get("offered"), get("answered"), get("abandoned"));
    let (short, flow_outs, asa) = (get("short_abandoned"), get("flow_outs"), get("asa_ms"));
    let (over, max_wait, level) = (
        get("answered_over_target"),
        get("max_wait_ms"),
        get("service_level_pct"),
    );
    let mut by_queue: BTreeMap<String, Queue> = BTreeMap::new();
    let mut all_starts = std::collections::BTreeSet::new();
    for r in 0..batch.num_rows() {
        let id = ids[r].clone().unwrap_or_default();
        let q = by_queue.entry(id.clone()).or_insert_with(|| Queue {
            id: id.clone(),
            name: names[r].clone().unwrap_or_else(|| "(no queue)".to_string()),
            ..Queue::default()
        });
        let v = |c: &[Option<f64>]| c[r].unwrap_or(0.0);
        let row = Queue {
            offered: v(&offered),
            answered: v(&answered),
            abandoned: v(&abandoned),
            short: v(&short),
            flow_outs: v(&flow_outs),
            answered_ms: v(&asa) * v(&answered),
            over: v(&over),
            max_wait: max_wait[r],
            ..Queue::default()
        };
        q.add(&row);
        if let Some(start) = starts.get(r).copied().flatten() {
            all_starts.insert(start);
            q.intervals.insert(
                start,
                svg::Interval {
                    label: local_time(start, tz, false),
                    day: None,
                    offered: row.offered,
                    answered: row.answered,
                    abandoned: row.abandoned,
                    level: level[r],
                },
            );
        }
    }
    let mut total = Queue {
        name: "Total".into(),
        ..Queue::default()
    };
    let mut queues: Vec<Queue> = by_queue.into_values().collect();
    for q in &queues {
        total.add(q);
    }
    queues.sort_by(|a, b| {
        b.offered
            .total_cmp(&a.offered)
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.id.cmp(&b.id))
    });
    Queues {
        queues,
        total,
        starts: all_starts.into_iter().collect(),
        tz,
    }
}

/// One agent's totals over the interval.
#[derive(Debug, Default, Clone)]
struct Agent {
    name: String,
    id: String,
    answered: f64,
    handled: f64,
    talk_ms: f64,
    hold_ms: f64,
    acw_ms: f64,
    handle_ms: f64,
    transfers: f64,
}

fn agent_totals(batch: &RecordBatch) -> Vec<Agent> {
    let ids = strings(batch, "user_id");
    let names = strings(batch, "agent_name");
    let get = |name: &str| numbers(batch, name);
    let cols = [
        get("answered"),
        get("handled"),
        get("talk_ms"),
        get("hold_ms"),
        get("acw_ms"),
        get("handle_ms"),
        get("blind_transfers"),
        get("consult_transfers"),
    ];
    let mut by_agent: BTreeMap<String, Agent> = BTreeMap::new();
    for r in 0..batch.num_rows() {
        let id = ids[r].clone().unwrap_or_default();
        let a = by_agent.entry(id.clone()).or_insert_with(|| Agent {
            id,
            name: names[r].clone().unwrap_or_else(|| "(no agent)".into()),
            ..Agent::default()
        });
        let v = |i: usize| cols[i][r].unwrap_or(0.0);
        a.answered += v(0);
        a.handled += v(1);
        a.talk_ms += v(2);
        a.hold_ms += v(3);
        a.acw_ms += v(4);
        a.handle_ms += v(5);
        a.transfers += v(6) + v(7);
    }
    let mut agents: Vec<Agent> = by_agent.into_values().collect();
    agents.sort_by(|a, b| {
        b.handled
            .total_cmp(&a.handled)
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.id.cmp(&b.id))
    });
    agents
}

/// `sum / n` when `n` is not zero.
fn ratio(sum: f64, n: f64) -> Option<f64> {
    (n > 0.0).then(|| sum / n)
}

/// The KPI tiles over every queue and agent.
fn tiles(queues: Option<&Queues>, agents: Option<&Vec<Agent>>, params: &ReportParams) -> String {
    let mut tiles: Vec<(&str, String)> = Vec::new();
    if let Some(q) = queues {
        let t = &q.total;
        tiles.push(("Offered", count(t.offered as i128)));
        tiles.push(("Answered", count(t.answered as i128)));
        tiles.push(("Service level", t.level(params).map_or("-".into(), percent)));
        tiles.push((
            "Abandon rate",
            ratio(100.0 * t.abandoned, t.offered).map_or("-".into(), percent),
        ));
        tiles.push((
            "ASA",
            ratio(t.answered_ms, t.answered).map_or("-".into(), duration),
        ));
    }
    if let Some(agents) = agents {
        let handled: f64 = agents.iter().map(|a| a.handled).sum();
        let handle: f64 = agents.iter().map(|a| a.handle_ms).sum();
        tiles.push(("AHT", ratio(handle, handled).map_or("-".into(), duration)));
    }
    if tiles.is_empty() {
        return String::new();
    }
    let mut out = String::from(r#"<div class="tiles">"#);
    for (name, value) in tiles {
        let _ = write!(
            out,
            r#"<div class="tile"><div class="k">{name}</div><div class="v" data-tile="{name}">{}</div></div>"#,
            escape(&value)
        );
    }
    out.push_str("</div>");
    out
}

/// A sortable table: headers (label, numeric), rows of (text, sort key), and a totals row.
fn html_table(
    headers: &[(String, bool)],
    rows: &[Vec<(String, String)>],
    totals: Option<&[String]>,
) -> String {
    let mut out = String::from(r#"<table class="sortable"><thead><tr>"#);
    for (h, numeric) in headers {
        let class = if *numeric { r#" class="n""# } else { "" };
        let _ = write!(out, "<th{class}>{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for ((text, key), (_, numeric)) in row.iter().zip(headers) {
            let class = if *numeric { r#" class="n""# } else { "" };
            let _ = write!(
                out,
                r#"<td{class} data-v="{}">{}</td>"#,
                escape(key),
                escape(text)
            );
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody>");
    if let Some(totals) = totals {
        out.push_str("<tfoot><tr>");
        for (text, (_, numeric)) in totals.iter().zip(headers) {
            let class = if *numeric { r#" class="n""# } else { "" };
            let _ = write!(out, "<td{class}>{}</td>", escape(text));
        }
        out.push_str("</tr></tfoot>");
    }
    out.push_str("</table>");
    out
}

/// A number cell: its text and its sort key.
fn num(text: String, value: Option<f64>) -> (String, String) {
    (text, value.map_or(String::new(), |v| format!("{v:.3}")))
}

fn queue_section(q: &Queues, params: &ReportParams) -> String {
    let headers: Vec<(String, bool)> = [
        ("Queue", false),
        ("Offered", true),
        ("Answered", true),
        ("Abandoned", true),
        ("Short abandons", true),
        ("Flow-outs", true),
        ("ASA", true),
        ("Longest wait", true),
        ("Service level %", true),
        ("Abandon %", true),
    ]
    .iter()
    .map(|(h, n)| (h.to_string(), *n))
    .collect();
    let cells = |x: &Queue| -> Vec<(String, String)> {
        let c = |v: f64| num(count(v as i128), Some(v));
        let asa = ratio(x.answered_ms, x.answered);
        let level = x.level(params);
        let abandon = ratio(100.0 * x.abandoned, x.offered);
        vec![
            (x.name.clone(), x.name.clone()),
            c(x.offered),
            c(x.answered),
            c(x.abandoned),
            c(x.short),
            c(x.flow_outs),
            num(asa.map_or("-".into(), duration), asa),
            num(x.max_wait.map_or("-".into(), duration), x.max_wait),
            num(level.map_or("-".into(), percent), level),
            num(abandon.map_or("-".into(), percent), abandon),
        ]
    };
    let rows: Vec<Vec<(String, String)>> = q.queues.iter().map(cells).collect();
    let totals: Vec<String> = cells(&q.total).into_iter().map(|c| c.0).collect();
    let mut out = html_table(&headers, &rows, Some(&totals));
    // Small multiples: one time axis (every interval of the report) and one count scale.
    let max = q
        .queues
        .iter()
        .flat_map(|x| {
            x.intervals
                .values()
                .map(|i| i.offered.max(i.answered + i.abandoned))
        })
        .fold(0.0, f64::max);
    let mut last_day = String::new();
    let days: Vec<Option<String>> = q
        .starts
        .iter()
        .map(|&s| {
            let local_day = local_date(s, q.tz);
            (local_day != last_day).then(|| {
                last_day = local_day.clone();
                local_day
            })
        })
        .collect();
    let target = params.service_level_goal_pct;
    let _ = write!(
        out,
        r#"<p class="legend"><i style="background:{}"></i>answered <i style="background:{}"></i>abandoned <i style="background:{}"></i>other offered <i class="line" style="border-color:{}"></i>service level (dashed: {target}% target)</p><div class="multiples">"#,
        svg::ANSWERED,
        svg::ABANDONED,
        svg::OTHER,
        svg::LEVEL
    );
    for x in &q.queues {
        let points: Vec<svg::Interval> = q
            .starts
            .iter()
            .zip(&days)
            .map(|(s, day)| {
                let mut p = x.intervals.get(s).cloned().unwrap_or_default();
                p.day = day.clone();
                p
            })
            .collect();
        let _ = write!(
            out,
            r#"<figure class="queue"><figcaption>{}</figcaption>{}</figure>"#,
            escape(&x.name),
            svg::intervals(&x.name, &points, max, target)
        );
    }
    out.push_str("</div>");
    out
}

fn agent_section(agents: &[Agent]) -> String {
    let headers: Vec<(String, bool)> = [
        ("Agent", false),
        ("Answered", true),
        ("Handled", true),
        ("AHT", true),
        ("Talk", true),
        ("Hold", true),
        ("ACW", true),
        ("Transfers", true),
    ]
    .iter()
    .map(|(h, n)| (h.to_string(), *n))
    .collect();
    let per = |sum: f64, a: &Agent| {
        let v = ratio(sum, a.handled);
        num(v.map_or("-".into(), duration), v)
    };
    let cells = |a: &Agent| {
        vec![
            (a.name.clone(), a.name.clone()),
            num(count(a.answered as i128), Some(a.answered)),
            num(count(a.handled as i128), Some(a.handled)),
            per(a.handle_ms, a),
            per(a.talk_ms, a),
            per(a.hold_ms, a),
            per(a.acw_ms, a),
            num(count(a.transfers as i128), Some(a.transfers)),
        ]
    };
    let rows: Vec<_> = agents.iter().map(cells).collect();
    let mut total = Agent {
        name: "Total".into(),
        ..Agent::default()
    };
    for a in agents {
        total.answered += a.answered;
        total.handled += a.handled;
        total.talk_ms += a.talk_ms;
        total.hold_ms += a.hold_ms;
        total.acw_ms += a.acw_ms;
        total.handle_ms += a.handle_ms;
        total.transfers += a.transfers;
    }
    let totals: Vec<String> = cells(&total).into_iter().map(|c| c.0).collect();
    let mut out = html_table(&headers, &rows, Some(&totals));
    out.push_str(r#"<p class="note">Talk, hold and ACW are per handled conversation; AHT = (talk + hold + ACW) per handled.</p>"#);
    out
}

fn wrap_up_section(batch: &RecordBatch) -> String {
    let codes = strings(batch, "wrap_up_code");
    let names = strings(batch, "wrap_up_name");
    let counts = numbers(batch, "wrap_ups");
    let mut by_code: BTreeMap<String, (String, f64)> = BTreeMap::new();
    for r in 0..batch.num_rows() {
        let code = codes[r].clone().unwrap_or_default();
        let e = by_code
            .entry(code)
            .or_insert_with(|| (names[r].clone().unwrap_or_else(|| "(none)".into()), 0.0));
        e.1 += counts[r].unwrap_or(0.0);
    }
    let mut ranked: Vec<(String, f64)> = by_code.into_values().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let total: f64 = ranked.iter().map(|r| r.1).sum();
    let headers = vec![
        ("Wrap-up code".to_string(), false),
        ("Wrap-ups".into(), true),
        ("Share %".into(), true),
    ];
    let rows: Vec<_> = ranked
        .iter()
        .map(|(name, n)| {
            let share = ratio(100.0 * n, total);
            vec![
                (name.clone(), name.clone()),
                num(count(*n as i128), Some(*n)),
                num(share.map_or("-".into(), percent), share),
            ]
        })
        .collect();
    let top: Vec<(String, f64)> = ranked.iter().take(15).cloned().collect();
    let mut out = svg::ranked("Wrap-up codes, most used first", &top, svg::ANSWERED);
    out.push_str(&html_table(
        &headers,
        &rows,
        Some(&["Total".into(), count(total as i128), percent(100.0)]),
    ));
    out
}

/// Handle time per queue and media type over the whole interval (the per-interval rows are
/// in the CSV output): handled and AHT, exact from the report's handled × AHT.
fn handle_time_section(batch: &RecordBatch) -> String {
    let queues = strings(batch, "queue_name");
    let ids = strings(batch, "queue_id");
    let media = strings(batch, "media_type");
    let (handled, aht) = (numbers(batch, "handled"), numbers(batch, "aht_ms"));
    let mut by_key: BTreeMap<(String, String, String), (f64, f64)> = BTreeMap::new();
    for r in 0..batch.num_rows() {
        let key = (
            queues[r].clone().unwrap_or_else(|| "(no queue)".into()),
            ids[r].clone().unwrap_or_default(),
            media[r].clone().unwrap_or_default(),
        );
        let e = by_key.entry(key).or_default();
        let n = handled[r].unwrap_or(0.0);
        e.0 += n;
        e.1 += aht[r].unwrap_or(0.0) * n;
    }
    let headers: Vec<(String, bool)> = vec![
        ("Queue".into(), false),
        ("Media type".into(), false),
        ("Handled".into(), true),
        ("AHT".into(), true),
    ];
    let rows: Vec<Vec<(String, String)>> = by_key
        .iter()
        .map(|((queue, _, media), (n, ms))| {
            let aht = ratio(*ms, *n);
            vec![
                (queue.clone(), queue.clone()),
                (media.clone(), media.clone()),
                num(count(*n as i128), Some(*n)),
                num(aht.map_or("-".into(), duration), aht),
            ]
        })
        .collect();
    let (n, ms) = by_key
        .values()
        .fold((0.0, 0.0), |a, v| (a.0 + v.0, a.1 + v.1));
    let totals = [
        "Total".to_string(),
        String::new(),
        count(n as i128),
        ratio(ms, n).map_or("-".into(), duration),
    ];
    let mut out = html_table(&headers, &rows, Some(&totals));
    out.push_str(r#"<p class="note">Over the whole interval; the CSV output has each interval with talk, hold and ACW.</p>"#);
    out
}

fn abandons_section(batch: &RecordBatch) -> String {
    let bands = strings(batch, "wait_band");
    let mins = numbers(batch, "band_min_ms");
    let counts = numbers(batch, "abandons");
    // Bands in the order of their waits.
    let mut by_band: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for r in 0..batch.num_rows() {
        let band = bands[r].clone().unwrap_or_default();
        let e = by_band.entry(band).or_insert((f64::MAX, 0.0));
        e.0 = e.0.min(mins[r].unwrap_or(f64::MAX));
        e.1 += counts[r].unwrap_or(0.0);
    }
    let mut ordered: Vec<(String, (f64, f64))> = by_band.into_iter().collect();
    ordered.sort_by(|a, b| a.1 .0.total_cmp(&b.1 .0));
    let bars: Vec<(String, f64)> = ordered.into_iter().map(|(b, (_, n))| (b, n)).collect();
    let mut out = svg::columns(
        "Abandons by time waited before abandoning",
        &bars,
        svg::ABANDONED,
    );
    out.push_str(&plain_table(batch, Tz::UTC).unwrap_or_default());
    out
}

fn daily_section(batch: &RecordBatch, tz: Tz) -> anyhow::Result<String> {
    let days = column(batch, "day_start");
    let conversations = numbers(batch, "conversations");
    let mut by_day: BTreeMap<i64, f64> = BTreeMap::new();
    if let Some(days) = &days {
        let cells = Cells::new("day_start", days.as_ref(), tz)?;
        for r in 0..batch.num_rows() {
            if let Some(day) = cells.instant(r) {
                *by_day.entry(day).or_default() += conversations[r].unwrap_or(0.0);
            }
        }
    }
    let bars: Vec<(String, f64)> = by_day
        .into_iter()
        .map(|(d, n)| (local_date(d, tz), n))
        .collect();
    let mut out = svg::columns("Conversations by day", &bars, svg::ANSWERED);
    out.push_str(&plain_table(batch, tz)?);
    Ok(out)
}

/// A report's rows as a table: names instead of the ids they stand for, numbers as people
/// write them, at most [`MAX_ROWS`] rows.
fn plain_table(batch: &RecordBatch, tz: Tz) -> anyhow::Result<String> {
    let schema = batch.schema();
    let shown = super::names::readable_columns(&schema);
    let cells = shown
        .iter()
        .map(|&i| Cells::new(schema.field(i).name(), batch.column(i).as_ref(), tz))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let headers: Vec<(String, bool)> = shown
        .iter()
        .zip(&cells)
        .map(|(&i, c)| (label(schema.field(i).name()), c.kind().is_numeric()))
        .collect();
    let rows: Vec<Vec<(String, String)>> = (0..batch.num_rows().min(MAX_ROWS))
        .map(|r| {
            cells
                .iter()
                .map(|c| {
                    let key = c
                        .number(r)
                        .map(|v| format!("{v:.3}"))
                        .or_else(|| c.instant(r).map(|t| t.to_string()))
                        .unwrap_or_else(|| c.text(r));
                    (c.text(r), key)
                })
                .collect()
        })
        .collect();
    let mut out = html_table(&headers, &rows, None);
    if batch.num_rows() > MAX_ROWS {
        let _ = write!(
            out,
            r#"<p class="note">{} of {} rows shown; the CSV, JSON or Parquet output has them all.</p>"#,
            count(MAX_ROWS as i128),
            count(batch.num_rows() as i128)
        );
    }
    if batch.num_rows() == 0 {
        out.push_str(r#"<p class="note">No rows in this interval.</p>"#);
    }
    Ok(out)
}
