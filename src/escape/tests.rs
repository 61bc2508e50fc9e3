use super::*;
use proptest::prelude::*;

#[test]
fn identifiers_are_always_quoted_with_inner_quotes_doubled() {
    assert_eq!(ident("users"), "\"users\"");
    assert_eq!(ident("Mixed Case"), "\"Mixed Case\"");
    assert_eq!(ident("a\"b"), "\"a\"\"b\"");
    assert_eq!(qualified("s\"", "t"), "\"s\"\"\".\"t\"");
}

#[test]
fn literals_do_not_depend_on_standard_conforming_strings() {
    assert_eq!(literal("it's"), "'it''s'");
    assert_eq!(
        literal("a\\'; DROP TABLE x; --"),
        "E'a\\\\''; DROP TABLE x; --'"
    );
}

#[test]
fn dollar_quotes_pick_a_tag_the_body_lacks() {
    assert_eq!(dollar_quote("x"), "$pgw$x$pgw$");
    assert_eq!(dollar_quote("a $pgw$ b"), "$pgw1$a $pgw$ b$pgw1$");
}

#[test]
fn comments_cannot_end_early() {
    let hostile = "f\nDROP TABLE victim; --*/ /* x";
    let c = comment(hostile);
    assert!(
        !c.contains('\n') && !c.contains("*/") && !c.contains("/*"),
        "{c}"
    );
    assert!(
        c.contains("DROP TABLE victim"),
        "the text stays readable: {c}"
    );
}

#[test]
fn terminal_text_keeps_layout_but_no_escape_sequences() {
    let t = terminal("a\x1b[31mred\x07\n\tb\r");
    assert_eq!(t, "a\\u{1b}[31mred\\u{7}\n\tb\\r");
    assert_eq!(inline("a\nb"), "a\\nb");
    assert_eq!(
        terminal("::error x\nok\n  ::warning y"),
        "\\::error x\nok\n\\  ::warning y"
    );
    assert_eq!(
        colourize(&format!("{}x{COLOUR_END}", COLOUR_START[0]), true),
        "\x1b[32mx\x1b[0m"
    );
    assert_eq!(
        colourize(&format!("{}x{COLOUR_END}", COLOUR_START[1]), false),
        "x"
    );
}

#[test]
fn xml_and_github_escapes() {
    assert_eq!(xml("<a & 'b'>\u{1}"), "&lt;a &amp; &apos;b&apos;&gt;\\u{1}");
    assert_eq!(
        xml("a\u{202e}b"),
        "a\\u{202e}b",
        "a bidi override is shown, not obeyed"
    );
    assert_eq!(github_message("50%\nnext"), "50%25%0Anext");
    assert_eq!(github_message("a\u{1b}[31m"), "a\\u{1b}[31m");
    assert_eq!(inline("a\u{202e}b\u{2028}"), "a\\u{202e}b\\u{2028}");
    assert_eq!(github_property("a:b,c"), "a%3Ab%2Cc");
}

#[test]
fn paths_become_uri_references() {
    assert_eq!(
        uri_reference("migrations/V1__a.sql"),
        "migrations/V1__a.sql"
    );
    assert_eq!(
        uri_reference("/tmp/V1__ß x.sql"),
        "file:///tmp/V1__%C3%9F%20x.sql"
    );
}

#[test]
fn truncation_never_splits_a_character() {
    let euro = "€".repeat(30); // 90 bytes
    let t = truncate_name(&euro, 63);
    assert_eq!(t.len(), 63);
    assert_eq!(truncate_name(&format!("x{euro}"), 63).len(), 61);
    assert_eq!(truncate_name("short", 63), "short");
}

proptest! {
    #[test]
    fn escapes_never_panic_and_stay_on_one_line(s in "\\PC*|[\\x00-\\x7f]*") {
        let c = comment(&s);
        prop_assert!(!c.contains('\n') && !c.contains('\r') && !c.contains("*/"));
        prop_assert!(!inline(&s).chars().any(char::is_control));
        prop_assert!(!github_message(&s).contains('\n'));
        prop_assert!(!xml(&s).chars().any(|c| c.is_control()));
        let t = terminal(&s);
        prop_assert!(!t.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
    }

    #[test]
    fn identifier_quoting_is_reversible(s in ".*") {
        let q = ident(&s);
        let inner = &q[1..q.len() - 1];
        prop_assert_eq!(inner.replace("\"\"", "\""), s);
    }

    #[test]
    fn truncation_is_a_char_boundary_prefix(s in ".*", max in 0usize..80) {
        let t = truncate_name(&s, max);
        prop_assert!(t.len() <= max && s.starts_with(t));
        prop_assert!(s.len() <= max || t.len() + 4 > max);
    }
}

#[test]
fn colour_comes_from_the_renderer_never_from_data() {
    let own = format!("{}+ CREATE INDEX{}", COLOUR_START[0], COLOUR_END);
    assert_eq!(terminal(&own), own, "a whole coloured line is kept");
    // In the middle of a line, or in a value, a marker is data: shown, not obeyed.
    assert_eq!(terminal("x\u{E001}red\u{E00F}y"), "x\\u{e001}red\\u{e00f}y");
    assert_eq!(inline("\u{E001}red\u{E00F}"), "\\u{e001}red\\u{e00f}");
    assert!(!colourize(&terminal("x\u{E001}red"), true).contains('\u{1b}'));
}
