//! The markup every page shares: the document, tables, headers and paragraphs. Each takes
//! plain text and escapes it, so a page never writes report data into markup by hand.

use super::chart::{self, Chart, Standing};
use crate::escape::xml;
use crate::explain::Verdict;
use std::fmt::Write;

/// The page's one stylesheet.
const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1040px;padding:0 1em;color:#212121}\
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.6em}\
.meta,.note{color:#616161}.summary{font-size:1.1em;font-weight:600}\
table{border-collapse:collapse;width:100%;font-size:.9em}\
th,td{border-bottom:1px solid #e0e0e0;padding:.3em .5em;text-align:left;vertical-align:top}\
tr.over td.verdict{color:#c62828;font-weight:600}tr.within td.verdict{color:#2e7d32}\
tr.error td.verdict{color:#757575;font-weight:600}\
pre{background:#f5f5f5;padding:.4em;margin:0;white-space:pre-wrap;word-break:break-all}\
svg.chart{max-width:100%;height:auto;font-size:12px}\
.grid{stroke:#eeeeee}.tick{fill:#757575;text-anchor:middle}.name{text-anchor:end}\
.budget{stroke:#212121;stroke-width:2;stroke-dasharray:4 2}\
.value{paint-order:stroke;stroke:#fff;stroke-width:3px}";

/// The document around `body` (markup); `title` is plain text.
pub(super) fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\
         <p class=\"note\">Written by pgwarden: a self-contained page (no script, nothing fetched).</p>\n\
         </body>\n</html>\n",
        xml(title)
    )
}

/// A table cell: plain text, or code shown as written; both escaped by [`table`].
pub(super) enum Cell {
    Text(String),
    Code(String),
}

impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::Text(s)
    }
}

/// A table of plain-text cells; each row has a class (`over`, `within`, `error` or empty), and
/// a column named `verdict` is marked for colour.
pub(super) fn table(header: &[&str], rows: Vec<(&str, Vec<Cell>)>) -> String {
    let mut out = String::from("<table>\n<tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", xml(h));
    }
    out.push_str("</tr>\n");
    for (class, cells) in rows {
        let _ = write!(out, "<tr class=\"{}\">", xml(class));
        for (i, cell) in cells.iter().enumerate() {
            let verdict = header.get(i) == Some(&"verdict");
            out.push_str(if verdict {
                "<td class=\"verdict\">"
            } else {
                "<td>"
            });
            match cell {
                Cell::Text(t) => out.push_str(&xml(t)),
                Cell::Code(c) => {
                    let _ = write!(out, "<pre>{}</pre>", xml(c));
                }
            }
            out.push_str("</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    out
}

/// The header: a heading, then `label value` pairs, all plain text.
pub(super) fn header(title: &str, pairs: &[(&str, &str)]) -> String {
    let meta = pairs
        .iter()
        .map(|(k, v)| format!("{} <b>{}</b>", xml(k), xml(v)))
        .collect::<Vec<_>>()
        .join(" · ");
    format!("<h1>{}</h1>\n<p class=\"meta\">{meta}</p>\n", xml(title))
}

/// A section heading of plain text.
pub(super) fn heading(text: &str) -> String {
    format!("<h2>{}</h2>\n", xml(text))
}

/// A paragraph of plain text with a class.
pub(super) fn paragraph(class: &str, text: &str) -> String {
    format!("<p class=\"{}\">{}</p>\n", xml(class), xml(text))
}

/// A check's verdict as the chart colours it.
pub(super) fn standing(v: Option<Verdict>) -> Standing {
    match v {
        Some(Verdict::Within) => Standing::Within,
        Some(Verdict::Over) => Standing::Over,
        None => Standing::Unknown,
    }
}

/// A time against its budget; a budget is an upper bound, so equal is within.
pub(super) fn within_budget(ms: f64, budget_ms: f64) -> Standing {
    if ms <= budget_ms {
        Standing::Within
    } else {
        Standing::Over
    }
}

/// "query" or "queries" for `n`.
pub(super) fn quantity(n: usize) -> &'static str {
    if n == 1 { "query" } else { "queries" }
}

/// The chart's heading and its legend, then the chart.
pub(super) fn chart_section(chart: &Chart, measured: &str) -> String {
    let budget = if chart.rows.iter().any(|r| r.budget.is_some()) {
        "the dashed line is the query's budget; "
    } else {
        ""
    };
    let legend = format!(
        "{measured}; bars on a log scale (each grid line is ten times the last); \
         {budget}red is over budget, green within, grey not measured."
    );
    format!(
        "<h2>Time against budget</h2>\n{}{}",
        paragraph("note", &legend),
        chart::svg(chart)
    )
}
