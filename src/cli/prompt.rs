//! Asking the person at the terminal about each change (stderr, stdin). Without a terminal
//! nothing is asked and nothing applied, so automation must say `--yes` (and `--allow-drop` for
//! drops).

use crate::commands::apply::Answer;
use std::io::{BufRead, Write};

/// `[y]es / [n]o / [a]ll / [q]uit` for one change.
pub fn ask_change(change: &str, interactive: bool) -> Answer {
    if !interactive {
        return Answer::Unanswered;
    }
    eprint!(
        "{}\napply? [y]es / [n]o / [a]ll / [q]uit: ",
        crate::escape::terminal(change)
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return Answer::Quit;
    }
    match line.trim() {
        "y" | "Y" | "yes" => Answer::Yes,
        "a" | "A" | "all" => Answer::All,
        "q" | "Q" | "quit" => Answer::Quit,
        _ => Answer::No,
    }
}
