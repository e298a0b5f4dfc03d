//! SVG charts drawn on the server: bars over time (with a highlighted part,
//! such as errors), lines over time (such as latency percentiles), and a
//! session's waterfall. Colours come from the stylesheet's classes, so the
//! charts follow light and dark mode; each bar carries a `<title>` that
//! browsers show on hover and screen readers read.

use maud::{html, Markup, PreEscaped};

const W: f64 = 640.0;
const H: f64 = 170.0;
const LEFT: f64 = 66.0;
const BOTTOM: f64 = 18.0;
const TOP: f64 = 8.0;

/// One bucket of a bar chart.
pub struct BarPoint {
    /// The bucket's label (its start time).
    pub label: String,
    /// The bar's height.
    pub value: f64,
    /// The highlighted part of the bar (drawn over it), e.g. errors.
    pub part: f64,
}

/// A "nice" upper bound of the axis for `max`.
fn nice_max(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(max.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if max <= m * mag {
            return m * mag;
        }
    }
    10.0 * mag
}

fn axis(max: f64, fmt: &dyn Fn(f64) -> String, first: &str, last: &str) -> Markup {
    let plot_h = H - TOP - BOTTOM;
    html! {
        @for i in 0..=2 {
            @let v = max * f64::from(i) / 2.0;
            @let y = TOP + plot_h - plot_h * f64::from(i) / 2.0;
            line.axis x1=(LEFT) x2=(W) y1=(y) y2=(y) {}
            text x=(LEFT - 4.0) y=(y + 3.0) text-anchor="end" { (fmt(v)) }
        }
        text x=(LEFT) y=(H - 4.0) { (first) }
        text x=(W) y=(H - 4.0) text-anchor="end" { (last) }
    }
}

/// Bars over time; `fmt` writes the values.
pub fn bars(title: &str, points: &[BarPoint], fmt: &dyn Fn(f64) -> String) -> Markup {
    let max = nice_max(points.iter().map(|p| p.value).fold(0.0, f64::max));
    let plot_w = W - LEFT;
    let plot_h = H - TOP - BOTTOM;
    let n = points.len().max(1) as f64;
    let slot = plot_w / n;
    let bar_w = (slot * 0.8).max(0.5);
    let first = points.first().map(|p| p.label.as_str()).unwrap_or("");
    let last = points.last().map(|p| p.label.as_str()).unwrap_or("");
    html! {
        svg.chart viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(title) {
            title { (title) }
            (axis(max, fmt, first, last))
            @for (i, p) in points.iter().enumerate() {
                @let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
                @let h = plot_h * (p.value / max).clamp(0.0, 1.0);
                @let hp = plot_h * (p.part / max).clamp(0.0, 1.0);
                @if p.value > 0.0 {
                    rect.bar x=(r(x)) y=(r(TOP + plot_h - h)) width=(r(bar_w)) height=(r(h)) {
                        title { (p.label) ": " (fmt(p.value)) }
                    }
                }
                @if p.part > 0.0 {
                    rect.bar.err x=(r(x)) y=(r(TOP + plot_h - hp)) width=(r(bar_w)) height=(r(hp)) {
                        title { (p.label) ": " (fmt(p.part)) " highlighted" }
                    }
                }
            }
        }
    }
}

/// Rounds a coordinate to 0.1, so the SVG stays small.
fn r(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// Lines over time: `series` are (class, values by bucket; None leaves a
/// gap).
pub fn lines(
    title: &str,
    labels: &[String],
    series: &[(&str, Vec<Option<f64>>)],
    fmt: &dyn Fn(f64) -> String,
) -> Markup {
    let max = nice_max(
        series
            .iter()
            .flat_map(|(_, v)| v.iter().flatten().copied())
            .fold(0.0, f64::max),
    );
    let plot_w = W - LEFT;
    let plot_h = H - TOP - BOTTOM;
    let n = labels.len().max(1) as f64;
    let slot = plot_w / n;
    let first = labels.first().map(String::as_str).unwrap_or("");
    let last = labels.last().map(String::as_str).unwrap_or("");
    let path = |values: &[Option<f64>]| {
        let mut d = String::new();
        let mut pen_down = false;
        for (i, v) in values.iter().enumerate() {
            match v {
                Some(v) => {
                    let x = LEFT + slot * (i as f64 + 0.5);
                    let y = TOP + plot_h - plot_h * (v / max).clamp(0.0, 1.0);
                    d.push_str(&format!(
                        "{}{} {} ",
                        if pen_down { "L" } else { "M" },
                        r(x),
                        r(y)
                    ));
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        d
    };
    html! {
        svg.chart viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(title) {
            title { (title) }
            (axis(max, fmt, first, last))
            @for (class, values) in series {
                path class=(format!("line {class}")) d=(path(values)) {}
            }
        }
    }
}

/// A horizontal share bar (for breakdown tables): `part` of `whole`.
pub fn share(part: f64, whole: f64) -> Markup {
    let w = if whole > 0.0 {
        (part / whole).clamp(0.0, 1.0) * 100.0
    } else {
        0.0
    };
    html! {
        svg.chart width="100" height="8" viewBox="0 0 100 8" aria-hidden="true" {
            rect.share x="0" y="0" width=(r(w)) height="8" {}
        }
    }
}

/// One row of a waterfall.
pub struct WaterfallRow {
    /// What the row is (a path, or a request's model).
    pub label: String,
    /// Indentation level.
    pub depth: usize,
    /// Start, in ms after the first request.
    pub start_ms: f64,
    /// Duration in ms.
    pub duration_ms: f64,
    /// A path node (drawn grey) rather than a request.
    pub node: bool,
    /// A failed request (drawn red).
    pub failed: bool,
    /// Where the row links to.
    pub href: Option<String>,
    /// Text after the bar (timing, cost).
    pub note: String,
}

/// A waterfall: one row per path and request, bars placed by start time.
pub fn waterfall(rows: &[WaterfallRow]) -> Markup {
    const ROW_H: f64 = 18.0;
    const LABEL_W: f64 = 260.0;
    const WIDTH: f64 = 960.0;
    const NOTE_W: f64 = 170.0;
    let total = rows
        .iter()
        .map(|r| r.start_ms + r.duration_ms)
        .fold(0.0, f64::max)
        .max(1.0);
    let plot_w = WIDTH - LABEL_W - NOTE_W;
    let height = ROW_H * rows.len() as f64 + 4.0;
    html! {
        svg.chart.wf viewBox=(format!("0 0 {WIDTH} {height}")) role="img" aria-label="Waterfall of the session's requests" {
            @for (i, row) in rows.iter().enumerate() {
                @let y = ROW_H * i as f64 + 2.0;
                @let x = LABEL_W + plot_w * row.start_ms / total;
                @let w = (plot_w * row.duration_ms / total).max(1.5);
                @let class = if row.node { "node" } else if row.failed { "bar err" } else { "bar" };
                @let label = html! {
                    text x=(4.0 + 12.0 * row.depth as f64) y=(y + 12.0) class=[row.node.then_some("muted")] {
                        (truncate(&row.label, 40usize.saturating_sub(2 * row.depth).max(8)))
                    }
                };
                @if let Some(href) = &row.href {
                    a href=(href) { (label) }
                } @else {
                    (label)
                }
                rect class=(class) x=(r(x)) y=(y + 3.0) width=(r(w)) height=(ROW_H - 6.0) {
                    title { (row.label) ": starts at " (row.start_ms.round()) " ms, " (row.duration_ms.round()) " ms" }
                }
                text.muted x=(WIDTH - NOTE_W + 6.0) y=(y + 12.0) { (row.note) }
            }
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// A legend line: (class, label) pairs.
pub fn legend(items: &[(&str, &str)]) -> Markup {
    html! {
        p.legend {
            @for (class, label) in items {
                span class=(class) { (PreEscaped("&#9632;")) } " " (label) " "
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_labels_and_scale() {
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(230.0), 250.0);
        let svg = bars(
            "t",
            &[BarPoint {
                label: "<script>".into(),
                value: 2.0,
                part: 1.0,
            }],
            &|v| format!("{v}"),
        )
        .into_string();
        assert!(svg.contains("&lt;script&gt;"));
        assert!(!svg.contains("<script>"));
        let l = lines(
            "l",
            &["a".into(), "b".into()],
            &[("", vec![Some(1.0), None])],
            &|v| format!("{v}"),
        )
        .into_string();
        assert!(l.contains("M"));
    }
}
