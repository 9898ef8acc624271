//! Charts as SVG, drawn by convlake so that a report file needs no script, font or image to
//! show them: columns (a histogram, volume by day), ranked horizontal bars, and the interval
//! chart of a queue (answered, abandoned and the rest of offered, stacked per interval, with
//! the service level as a line against its target). Every number is written with fixed
//! decimals, so the same data gives the same bytes.

use std::fmt::Write;

/// Colours of the series (also in the HTML's legend).
pub const ANSWERED: &str = "#2f6fb2";
/// Abandoned contacts.
pub const ABANDONED: &str = "#d0533f";
/// Offered contacts neither answered nor abandoned (flow-outs, still waiting).
pub const OTHER: &str = "#b9c4d0";
/// The service level line.
pub const LEVEL: &str = "#1f8a4c";

/// `text` safe inside SVG and HTML text and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The smallest "nice" number (1, 2 or 5 times a power of ten) at or above `value`, for axes.
pub fn nice_max(value: f64) -> f64 {
    if !(value > 0.0) || !value.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(value.log10().floor());
    for step in [1.0, 2.0, 5.0, 10.0] {
        if value <= step * power + 1e-9 {
            return step * power;
        }
    }
    10.0 * power
}

/// A number for an SVG attribute.
fn n(v: f64) -> String {
    format!("{v:.1}")
}

/// A short axis label of `v` (1.2k, 3M).
fn tick(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if v >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// Opens an `<svg>` of `w` × `h` with an accessible title.
fn open(out: &mut String, w: f64, h: f64, title: &str, class: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart {class}" role="img" viewBox="0 0 {} {}" width="{}" height="{}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        n(w),
        n(h),
        n(w),
        n(h),
        escape(title)
    );
}

/// Horizontal grid lines and their labels on the left, from 0 to `max` in four steps.
fn grid(out: &mut String, left: f64, top: f64, width: f64, height: f64, max: f64) {
    for i in 0..=4 {
        let v = max * f64::from(i) / 4.0;
        let y = top + height - height * f64::from(i) / 4.0;
        let _ = write!(
            out,
            r##"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="#e3e7ec"/><text x="{}" y="{}" text-anchor="end" class="axis">{}</text>"##,
            n(left),
            n(left + width),
            n(left - 4.0),
            n(y + 3.5),
            tick(v),
            y = n(y)
        );
    }
}

/// Vertical columns, one per `(label, value)`, labels under them (every k-th when crowded).
pub fn columns(title: &str, bars: &[(String, f64)], colour: &str) -> String {
    let (w, h, left, top, bottom) = (720.0, 220.0, 44.0, 12.0, 36.0);
    let plot_w = w - left - 8.0;
    let plot_h = h - top - bottom;
    let max = nice_max(bars.iter().map(|b| b.1).fold(0.0, f64::max));
    let mut out = String::new();
    open(&mut out, w, h, title, "columns");
    grid(&mut out, left, top, plot_w, plot_h, max);
    let slot = plot_w / bars.len().max(1) as f64;
    let every = (bars.len() as f64 / 14.0).ceil().max(1.0) as usize;
    for (i, (label, value)) in bars.iter().enumerate() {
        let bh = plot_h * value / max;
        let x = left + slot * i as f64 + slot * 0.15;
        let _ = write!(
            out,
            r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{colour}"><title>{}: {}</title></rect>"#,
            n(x),
            n(top + plot_h - bh),
            n(slot * 0.7),
            n(bh),
            escape(label),
            trim(*value)
        );
        if i % every == 0 {
            let _ = write!(
                out,
                r#"<text x="{}" y="{}" text-anchor="middle" class="axis">{}</text>"#,
                n(left + slot * (i as f64 + 0.5)),
                n(h - bottom + 14.0),
                escape(label)
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// Horizontal bars ranked as given, the label on the left and the value at the bar's end.
pub fn ranked(title: &str, items: &[(String, f64)], colour: &str) -> String {
    let (w, row, left) = (720.0, 22.0, 220.0);
    let h = row * items.len().max(1) as f64 + 8.0;
    let max = nice_max(items.iter().map(|b| b.1).fold(0.0, f64::max));
    let plot_w = w - left - 60.0;
    let mut out = String::new();
    open(&mut out, w, h, title, "ranked");
    for (i, (label, value)) in items.iter().enumerate() {
        let y = 4.0 + row * i as f64;
        let bw = plot_w * value / max;
        let shown: String = label.chars().take(32).collect();
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="end" class="label">{}</text><rect x="{}" y="{}" width="{}" height="{}" fill="{colour}"><title>{}: {}</title></rect><text x="{}" y="{}" class="value">{}</text>"#,
            n(left - 6.0),
            n(y + 15.0),
            escape(&shown),
            n(left),
            n(y + 3.0),
            n(bw),
            n(row - 6.0),
            escape(label),
            trim(*value),
            n(left + bw + 4.0),
            n(y + 15.0),
            super::format::count(*value as i128)
        );
    }
    out.push_str("</svg>");
    out
}

/// One interval of a queue's chart.
#[derive(Debug, Clone, Default)]
pub struct Interval {
    /// Its label (local time), for tooltips.
    pub label: String,
    /// Whether a day starts here (a tick and a label below).
    pub day: Option<String>,
    /// Offered, answered and abandoned contacts.
    pub offered: f64,
    /// Answered.
    pub answered: f64,
    /// Abandoned.
    pub abandoned: f64,
    /// The service level %, when it has one.
    pub level: Option<f64>,
}

/// A queue's intervals: answered, abandoned and the rest of offered stacked per interval on
/// a count axis up to `max` (shared by every queue's chart), the service level % as a line
/// on an axis of 0–100 on the right, and the target as a dashed line.
pub fn intervals(title: &str, points: &[Interval], max: f64, target_pct: f64) -> String {
    let (w, h, left, right, top, bottom) = (720.0, 170.0, 44.0, 36.0, 10.0, 24.0);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let max = nice_max(max);
    let mut out = String::new();
    open(&mut out, w, h, title, "intervals");
    grid(&mut out, left, top, plot_w, plot_h, max);
    let slot = plot_w / points.len().max(1) as f64;
    let bar = (slot * 0.8).max(0.5);
    let mut paths = [String::new(), String::new(), String::new()];
    let mut level = String::new();
    let mut gap = true;
    for (i, p) in points.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let other = (p.offered - p.answered - p.abandoned).max(0.0);
        let mut base = top + plot_h;
        for (k, v) in [p.answered, p.abandoned, other].into_iter().enumerate() {
            if v > 0.0 {
                let bh = plot_h * v / max;
                base -= bh;
                let _ = write!(
                    paths[k],
                    "M{} {}h{}v{}h-{}z",
                    n(x),
                    n(base),
                    n(bar),
                    n(bh),
                    n(bar)
                );
            }
        }
        // The line breaks where an interval has no service level (nothing answered or
        // abandoned).
        match p.level {
            Some(pct) => {
                let y = top + plot_h - plot_h * pct.clamp(0.0, 100.0) / 100.0;
                let op = if gap { 'M' } else { 'L' };
                let _ = write!(level, "{op}{} {}", n(x + bar / 2.0), n(y));
                gap = false;
            }
            None => gap = true,
        }
        if let Some(day) = &p.day {
            let x = left + slot * i as f64;
            let _ = write!(
                out,
                r##"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="#c9d1da"/><text x="{}" y="{}" class="axis">{}</text>"##,
                n(top),
                n(top + plot_h + 4.0),
                n(x + 2.0),
                n(h - 8.0),
                escape(day),
                x = n(x)
            );
        }
    }
    for (path, colour) in paths.iter().zip([ANSWERED, ABANDONED, OTHER]) {
        if !path.is_empty() {
            let _ = write!(out, r#"<path d="{path}" fill="{colour}"/>"#);
        }
    }
    for pct in [0.0, 50.0, 100.0] {
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" class="axis level">{}%</text>"#,
            n(left + plot_w + 3.0),
            n(top + plot_h - plot_h * pct / 100.0 + 3.5),
            trim(pct)
        );
    }
    let target_y = top + plot_h - plot_h * target_pct.clamp(0.0, 100.0) / 100.0;
    let _ = write!(
        out,
        r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{LEVEL}" stroke-dasharray="4 3"/><text x="{}" y="{}" class="axis level">target {}%</text>"#,
        n(left),
        n(left + plot_w),
        n(left + plot_w - 60.0),
        n(target_y - 3.0),
        trim(target_pct),
        y = n(target_y)
    );
    if !level.is_empty() {
        let _ = write!(
            out,
            r#"<path d="{level}" fill="none" stroke="{LEVEL}" stroke-width="1.5"/>"#
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_nice_numbers() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(12.0), 20.0);
        assert_eq!(nice_max(450.0), 500.0);
        assert_eq!(nice_max(1000.0), 1000.0);
        assert_eq!(tick(2500.0), "2.5k");
    }

    #[test]
    fn charts_are_svg_with_their_marks_and_escaped_labels() {
        let c = columns(
            "Volume",
            &[("<Mon>".into(), 3.0), ("Tue".into(), 0.0)],
            ANSWERED,
        );
        assert!(c.starts_with("<svg") && c.ends_with("</svg>"));
        assert_eq!(c.matches("<rect").count(), 2);
        assert!(c.contains("&lt;Mon&gt;") && !c.contains("<Mon>"));
        let points = vec![
            Interval {
                label: "a".into(),
                day: Some("Mon".into()),
                offered: 10.0,
                answered: 7.0,
                abandoned: 2.0,
                level: Some(80.0),
            },
            Interval {
                label: "b".into(),
                day: None,
                offered: 4.0,
                answered: 4.0,
                abandoned: 0.0,
                level: Some(100.0),
            },
        ];
        let q = intervals("Sales", &points, 10.0, 80.0);
        assert_eq!(
            q.matches("<path").count(),
            4,
            "three series and the level line: {q}"
        );
        assert_eq!(q, intervals("Sales", &points, 10.0, 80.0), "the same bytes");
    }
}
