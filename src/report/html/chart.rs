//! The page's bar chart, as inline SVG: one row per query, one bar per figure (two, before and
//! after, when a fix is compared), a vertical line at the query's budget, red over budget and
//! green within. The scale is logarithmic, so that a 30 s query and a 40 µs query are both
//! visible in one chart; it spans at most [`MAX_DECADES`] powers of ten below the largest figure.
//!
//! Every bar is a `<rect class="bar" data-query="NAME">` (with `data-phase="before"` or
//! `"after"` in a comparison), so that a test can count them in a browser's DOM. Every piece of
//! text from the report goes through [`xml`].

use crate::escape::xml;
use std::fmt::Write;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// What the figures measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unit {
    /// Milliseconds, written by [`crate::units::ms`].
    Ms,
    /// Planner cost, which has no unit.
    Cost,
}

impl Unit {
    fn figure(self, v: f64) -> String {
        match self {
            Unit::Ms => crate::units::ms(v),
            Unit::Cost => format!("cost {}", crate::units::number(v)),
        }
    }

    /// A grid line's label: a power of ten, in seconds from a second up (`100 s`, not `1.67 min`).
    fn tick(self, v: f64) -> String {
        match self {
            Unit::Ms if v >= 1000.0 => format!("{:.0} s", v / 1000.0),
            Unit::Ms => crate::units::ms(v),
            Unit::Cost => crate::units::number(v),
        }
    }
}

/// How one figure stands against its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Standing {
    Within,
    Over,
    /// Not measured (an error): drawn as a stub.
    Unknown,
}

impl Standing {
    fn colour(self) -> &'static str {
        match self {
            Standing::Within => "#2e7d32",
            Standing::Over => "#c62828",
            Standing::Unknown => "#9e9e9e",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Standing::Within => "within budget",
            Standing::Over => "over budget",
            Standing::Unknown => "not measured",
        }
    }
}

/// One bar: a figure (`None` when not measured), and for comparisons its phase.
#[derive(Debug, Clone)]
pub(super) struct Bar {
    pub phase: Option<&'static str>,
    pub value: Option<f64>,
    pub standing: Standing,
}

/// One query's row: its bars and, when known, its budget.
#[derive(Debug, Clone)]
pub(super) struct Row {
    pub query: String,
    pub budget: Option<f64>,
    pub bars: Vec<Bar>,
}

/// The whole chart.
#[derive(Debug, Clone)]
pub(super) struct Chart {
    pub unit: Unit,
    pub rows: Vec<Row>,
}

/// Most powers of ten the axis spans; smaller figures are drawn as stubs at its left end.
pub(super) const MAX_DECADES: i32 = 8;

const WIDTH: f64 = 1000.0;
/// Right edge of the query names.
const NAME_RIGHT: f64 = 232.0;
const PLOT_X: f64 = 240.0;
const PLOT_W: f64 = 520.0;
const TOP: f64 = 26.0;
const BAR_H: f64 = 16.0;
const BAR_GAP: f64 = 3.0;
const ROW_GAP: f64 = 12.0;
/// The narrowest bar, so that a figure at the axis' left end still shows.
const MIN_BAR: f64 = 2.0;
/// Display columns of a query name shown beside its row (the whole name is in its tooltip).
const NAME_CHARS: usize = 34;

/// The axis: powers of ten from `lo` to `hi`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scale {
    lo: i32,
    hi: i32,
}

impl Scale {
    /// The decades that hold every positive figure and budget, at most [`MAX_DECADES`].
    fn over(figures: impl Iterator<Item = f64>) -> Scale {
        let (mut min, mut max) = (f64::INFINITY, 0.0_f64);
        for v in figures.filter(|v| v.is_finite() && *v > 0.0) {
            min = min.min(v);
            max = max.max(v);
        }
        if max == 0.0 {
            return Scale { lo: 0, hi: 1 };
        }
        let hi = max.log10().ceil() as i32;
        let lo = (min.log10().floor() as i32).clamp(hi - MAX_DECADES, hi - 1);
        Scale { lo, hi }
    }

    /// Distance from the plot's left edge, clamped to the plot.
    fn x(self, v: f64) -> f64 {
        if !v.is_finite() || v <= 0.0 {
            return 0.0;
        }
        let t = (v.log10() - f64::from(self.lo)) / f64::from(self.hi - self.lo);
        t.clamp(0.0, 1.0) * PLOT_W
    }
}

fn row_height(row: &Row) -> f64 {
    let bars = row.bars.len().max(1) as f64;
    bars * BAR_H + (bars - 1.0) * BAR_GAP + ROW_GAP
}

/// The chart as one `<svg>` element.
pub(super) fn svg(chart: &Chart) -> String {
    let figures = chart.rows.iter().flat_map(|r| {
        r.bars
            .iter()
            .filter_map(|b| b.value)
            .chain(r.budget)
            .collect::<Vec<_>>()
    });
    let scale = Scale::over(figures);
    let height = TOP + chart.rows.iter().map(row_height).sum::<f64>() + 4.0;
    let mut out = format!(
        "<svg class=\"chart\" role=\"img\" aria-label=\"time against budget per query\" \
         width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\">\n"
    );
    axis(&mut out, scale, chart.unit, height);
    let mut y = TOP;
    for row in &chart.rows {
        draw_row(&mut out, row, y, scale, chart.unit);
        y += row_height(row);
    }
    out.push_str("</svg>\n");
    out
}

/// A grid line and a label at each power of ten.
fn axis(out: &mut String, scale: Scale, unit: Unit, height: f64) {
    for decade in scale.lo..=scale.hi {
        let x = PLOT_X + scale.x(10f64.powi(decade));
        let _ = writeln!(
            out,
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{height}\"/>\
             <text class=\"tick\" x=\"{x:.1}\" y=\"12\">{}</text>",
            TOP - 6.0,
            xml(&unit.tick(10f64.powi(decade)))
        );
    }
}

fn draw_row(out: &mut String, row: &Row, top: f64, scale: Scale, unit: Unit) {
    let name = xml(&row.query);
    // Cut by display width (a CJK character takes two columns), the whole name in the tooltip.
    let shown: String = if row.query.width() > NAME_CHARS {
        let mut used = 0;
        row.query
            .chars()
            .take_while(|c| {
                used += c.width().unwrap_or(0);
                used < NAME_CHARS
            })
            .chain(['…'])
            .collect()
    } else {
        row.query.clone()
    };
    let bars_h = row_height(row) - ROW_GAP;
    let _ = writeln!(
        out,
        "<text class=\"name\" x=\"{NAME_RIGHT}\" y=\"{:.1}\"><title>{name}</title>{}</text>",
        top + bars_h / 2.0 + 4.0,
        xml(&shown)
    );
    let budget_text = row
        .budget
        .map(|b| format!(" (budget {})", unit.figure(b)))
        .unwrap_or_default();
    for (i, bar) in row.bars.iter().enumerate() {
        let y = top + i as f64 * (BAR_H + BAR_GAP);
        let width = bar.value.map_or(MIN_BAR, |v| scale.x(v).max(MIN_BAR));
        let figure = bar
            .value
            .map_or("not measured".to_string(), |v| unit.figure(v));
        let label = match bar.phase {
            Some(phase) => format!("{phase} {figure}"),
            None => figure,
        };
        let phase_attr = bar
            .phase
            .map(|p| format!(" data-phase=\"{}\"", xml(p)))
            .unwrap_or_default();
        let opacity = if bar.phase == Some("before") {
            0.55
        } else {
            1.0
        };
        let _ = writeln!(
            out,
            "<rect class=\"bar\" data-query=\"{name}\"{phase_attr} x=\"{PLOT_X}\" y=\"{y:.1}\" \
             width=\"{width:.1}\" height=\"{BAR_H}\" fill=\"{}\" fill-opacity=\"{opacity}\">\
             <title>{name}: {}, {}{}</title></rect>\
             <text class=\"value\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            bar.standing.colour(),
            xml(&label),
            bar.standing.label(),
            xml(&budget_text),
            PLOT_X + width + 5.0,
            y + BAR_H - 4.0,
            xml(&label)
        );
    }
    if let Some(budget) = row.budget {
        let x = PLOT_X + scale.x(budget);
        let _ = writeln!(
            out,
            "<line class=\"budget\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\">\
             <title>{name}: {}</title></line>",
            top - 3.0,
            top + bars_h + 3.0,
            xml(&budget_text)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_holds_40_microseconds_and_30_seconds() {
        let s = Scale::over([0.04, 30_000.0].into_iter());
        assert_eq!(s, Scale { lo: -2, hi: 5 });
        assert!(s.x(0.04) > 0.0 && s.x(0.04) < s.x(1.0));
        assert!(s.x(30_000.0) > s.x(1000.0) && s.x(30_000.0) <= PLOT_W);
    }

    #[test]
    fn the_scale_is_capped_and_survives_zero_nan_and_empty_input() {
        let s = Scale::over([1e-9, 1e6].into_iter());
        assert_eq!(s.hi - s.lo, MAX_DECADES);
        assert_eq!(s.x(1e-9), 0.0, "below the axis: a stub");
        assert_eq!(
            Scale::over([0.0, f64::NAN].into_iter()),
            Scale { lo: 0, hi: 1 }
        );
        let one = Scale::over([100.0].into_iter());
        assert!(one.hi > one.lo, "a single figure still gets a decade");
        assert_eq!(one.x(0.0), 0.0);
        assert_eq!(one.x(f64::INFINITY), 0.0);
    }
}
