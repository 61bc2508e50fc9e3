//! Every escape pgwarden applies to text it did not write itself: names from the catalog,
//! migration files, policy files. One function per destination, each the only one used for it:
//! SQL identifiers and literals, comments in generated SQL files, XML (JUnit), GitHub workflow
//! commands, and the terminal. JSON and SARIF are written by serde, which escapes by the JSON rules.
//!
//! Pure: functions over strings, property-tested (see `tests`).

/// Quotes an identifier for SQL: always double-quoted, inner double quotes doubled. Correct for
/// any string without NUL (which PostgreSQL cannot store in a name).
pub fn ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `schema.name`, each part quoted by [`ident`].
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", ident(schema), ident(name))
}

/// Quotes a string literal so that it means the same whatever `standard_conforming_strings` says:
/// a value holding a backslash is written as an escape string (`E'...'`, backslashes doubled),
/// which PostgreSQL reads the same way under both settings; any other as a plain `'...'`. Single
/// quotes are doubled in both forms. This is what PostgreSQL's own `quote_literal` does.
pub fn literal(value: &str) -> String {
    let escaped = value.replace('\'', "''");
    if value.contains('\\') {
        format!("E'{}'", escaped.replace('\\', "\\\\"))
    } else {
        format!("'{escaped}'")
    }
}

/// A dollar-quoted string (`$pgw$...$pgw$`) holding `body` verbatim: the tag is chosen so that
/// it does not occur in the body, so nothing in the body can end the quote.
pub fn dollar_quote(body: &str) -> String {
    let mut n = 0u32;
    loop {
        let tag = if n == 0 {
            "$pgw$".to_string()
        } else {
            format!("$pgw{n}$")
        };
        if !body.contains(&tag) {
            return format!("{tag}{body}{tag}");
        }
        n += 1;
    }
}

/// Text made safe for a SQL comment (`-- ...` or `/* ... */`) in a generated file: control
/// characters (a newline would end a `--` comment and start a statement) are written as visible
/// escapes, and `*/` and `/*` (which end or nest a block comment) are broken apart.
pub fn comment(text: &str) -> String {
    inline(text).replace("*/", "* /").replace("/*", "/ *")
}

/// Text for one line of a terminal or a log: every control character (newline and tab
/// included, and ESC, which starts terminal escape sequences) is written as a visible escape
/// (`\n`, `\t`, `\u{1b}`), so a name can neither break the layout nor drive the terminal.
pub fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_visible(&mut out, c, false);
    }
    out
}

/// A whole block of human output: control characters other than the newlines and tabs of the
/// layout are written as visible escapes. Colour is added afterwards by the renderer's own
/// markers (see [`COLOUR_START`]), never taken from the data.
///
/// A line that would start with `::` (after leading white space) gets a `\\` first: CI logs
/// (GitHub Actions) read such a line as a workflow command, and pgwarden's own human output
/// never starts one.
pub fn terminal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if line.trim_start().starts_with("::") {
            out.push('\\');
        }
        // A renderer colours whole lines: a colour marker counts only as a line's first
        // character (a start) or last (the end); anywhere else it came from data and is shown.
        let last = line.chars().count().saturating_sub(1);
        for (j, c) in line.chars().enumerate() {
            let marker = is_colour_marker(c)
                && ((j == 0 && COLOUR_START.contains(&c)) || (j == last && c == COLOUR_END));
            if marker {
                out.push(c);
            } else {
                push_visible(&mut out, c, true);
            }
        }
    }
    out
}

/// The private-use range of the colour markers ([`COLOUR_START`], [`COLOUR_END`]).
fn is_colour_marker(c: char) -> bool {
    ('\u{E000}'..='\u{E00F}').contains(&c)
}

/// Private-use characters a renderer puts around coloured text; [`colourize`] turns them into
/// ANSI sequences after [`terminal`] has cleaned the text (or removes them without colour).
pub const COLOUR_START: [char; 3] = ['\u{E000}', '\u{E001}', '\u{E002}'];
/// Ends coloured text started by one of [`COLOUR_START`].
pub const COLOUR_END: char = '\u{E00F}';

/// Replaces the colour markers by ANSI sequences (green, red, yellow), or drops them.
pub fn colourize(text: &str, colour: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let code = match c {
            '\u{E000}' => "\x1b[32m",
            '\u{E001}' => "\x1b[31m",
            '\u{E002}' => "\x1b[33m",
            COLOUR_END => "\x1b[0m",
            _ => {
                out.push(c);
                continue;
            }
        };
        if colour {
            out.push_str(code);
        }
    }
    out
}

fn push_visible(out: &mut String, c: char, keep_layout: bool) {
    match c {
        '\n' | '\t' if keep_layout => out.push(c),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if is_hidden(c) || is_colour_marker(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        c => out.push(c),
    }
}

/// Control characters, and the characters that reorder or break text invisibly: line and
/// paragraph separators and the bidirectional marks and overrides (which can make a name read
/// as something else on screen).
fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// XML text or attribute content (JUnit, HTML): the five markup characters as entities, and
/// as visible escapes the characters XML 1.0 cannot carry at all (most control characters)
/// and those that would reorder the text on a CI page (bidirectional overrides, line
/// separators).
pub fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            '\r' => out.push_str("&#13;"),
            c if is_hidden(c) || matches!(c, '\u{FFFE}' | '\u{FFFF}') => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// The message of a GitHub Actions workflow command (`::error ...::MESSAGE`): one line, with
/// `%`, CR and LF percent-encoded as the runner decodes them.
pub fn github_message(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c => push_visible(&mut out, c, false),
        }
    }
    out
}

/// A property value of a GitHub Actions workflow command (`file=`, `title=`): as a message, and
/// `:` and `,` encoded too, since they delimit properties.
pub fn github_property(text: &str) -> String {
    github_message(text).replace(':', "%3A").replace(',', "%2C")
}

/// A file path as a URI reference (SARIF's `artifactLocation.uri`): a relative path stays
/// relative, an absolute one becomes a `file://` URI; every byte outside RFC 3986's unreserved
/// characters and `/` is percent-encoded.
pub fn uri_reference(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    if path.starts_with('/') {
        out.push_str("file://");
    }
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A name for a new relation: `base`, else `base_1`, `base_2`, ..., each cut to PostgreSQL's 63
/// bytes on a character boundary before the suffix, the first that `take` accepts (`take`
/// records the name and says whether it was free).
pub fn free_name(base: &str, mut take: impl FnMut(&str) -> bool) -> String {
    let mut n = 0u32;
    loop {
        let suffix = if n == 0 {
            String::new()
        } else {
            format!("_{n}")
        };
        let name = format!("{}{suffix}", truncate_name(base, 63 - suffix.len()));
        if take(&name) {
            return name;
        }
        n += 1;
    }
}

/// Truncates `name` to at most `max` bytes without splitting a character (PostgreSQL's
/// `NAMEDATALEN - 1` is 63 bytes; it truncates longer names the same way).
pub fn truncate_name(name: &str, max: usize) -> &str {
    if name.len() <= max {
        return name;
    }
    let mut end = max;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

#[cfg(test)]
mod tests;
