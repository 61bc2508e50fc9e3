//! Where human output goes: whether it may use colour, how wide the reader's terminal is, and
//! how much detail was asked for. The binary fills it in; renderers only read it.

/// The reader's screen, for human output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Screen {
    /// ANSI colour (a terminal, and no `NO_COLOR`).
    pub colour: bool,
    /// Columns to fit tables into (`COLUMNS`, else the terminal's width); `None`: no limit.
    pub width: Option<usize>,
    /// `-v` count: at 2 and above, the exact SQL is shown where a readable summary stands.
    pub verbose: u8,
}

/// Narrowest width tables are fitted to; below it every column would be a letter wide.
pub const MIN_WIDTH: usize = 40;

impl Screen {
    /// Plain text with no width limit: files, pipes and tests.
    pub fn plain() -> Self {
        Screen::default()
    }

    /// The width to fit, from `COLUMNS` when it holds a number, else `terminal` (the width of
    /// the terminal stdout is on, if any).
    pub fn width_from(columns: Option<&str>, terminal: Option<usize>) -> Option<usize> {
        columns
            .and_then(|c| c.trim().parse::<usize>().ok())
            .filter(|w| *w > 0)
            .or(terminal)
            .map(|w| w.max(MIN_WIDTH))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_wins_over_the_terminal_and_junk_is_ignored() {
        assert_eq!(Screen::width_from(Some("100"), Some(80)), Some(100));
        assert_eq!(Screen::width_from(Some("wide"), Some(80)), Some(80));
        assert_eq!(Screen::width_from(Some("0"), None), None);
        assert_eq!(Screen::width_from(None, None), None);
        assert_eq!(Screen::width_from(Some("10"), None), Some(MIN_WIDTH));
    }
}
