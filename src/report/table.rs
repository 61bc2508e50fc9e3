//! Tables for human output (tabled), fitted to the reader's screen.

use super::Screen;
use tabled::builder::Builder;
use tabled::settings::object::Columns;
use tabled::settings::peaker::PriorityMax;
use tabled::settings::{Modify, Style, Width};
use unicode_width::UnicodeWidthStr;

/// A table that fits `s.width`. The last column holds the long text (why, note, finding):
/// it wraps, at word boundaries, into the width the other columns leave; only when that is
/// too narrow do the widest columns share the cut.
pub(super) fn table(s: &Screen, header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut b = Builder::default();
    b.push_record(header.iter().map(|h| h.to_string()));
    // Display width, as tabled measures it: combining marks take none, CJK takes two.
    let mut last_width = header.last().map_or(0, |h| h.width());
    for r in rows {
        // A cell is one value: a newline or tab in a name is shown, not obeyed.
        let cells: Vec<String> = r.iter().map(|cell| crate::escape::inline(cell)).collect();
        last_width = last_width.max(cells.last().map_or(0, |c| c.width()));
        b.push_record(cells);
    }
    let mut t = b.build();
    t.with(Style::sharp());
    if let Some(width) = s.width
        && t.total_width() > width
    {
        // Padding of one space each side of the text.
        let others = t.total_width().saturating_sub(last_width + 2);
        if width > others + LAST_COLUMN_MIN + 2 {
            t.with(
                Modify::new(Columns::last()).with(Width::wrap(width - others - 2).keep_words(true)),
            );
        }
        if t.total_width() > width {
            t.with(
                Width::wrap(width)
                    .priority(PriorityMax::new(true))
                    .keep_words(true),
            );
        }
    }
    format!("{t}\n")
}

/// Narrowest the long-text column is wrapped to before other columns give way.
const LAST_COLUMN_MIN: usize = 24;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_width_and_wide_characters_fit_without_overflow() {
        let screen = Screen {
            width: Some(100),
            ..Screen::default()
        };
        let combining = format!("x{}", "\u{301}".repeat(600));
        let hindi = "नमस्ते दुनिया ".repeat(25);
        let cjk = "索引が遅い理由 ".repeat(30);
        for text in [combining, hindi, cjk] {
            let out = table(
                &screen,
                &["query", "why"],
                vec![vec!["q".into(), text.clone()]],
            );
            for line in out.lines() {
                assert!(line.width() <= 100, "{} wide: {line}", line.width());
            }
        }
    }
}
