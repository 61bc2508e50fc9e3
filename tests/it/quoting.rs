//! The escaping functions against PostgreSQL itself: for arbitrary strings (no NUL, which no
//! PostgreSQL text can hold), a quoted literal reads back as the same string under both
//! settings of `standard_conforming_strings`, a quoted identifier of 1 to 63 bytes names exactly
//! that string, a dollar quote holds its body verbatim, and comment text never ends a comment.

use crate::common::*;
use pgwarden::escape;
use proptest::prelude::*;
use std::sync::Mutex;

/// One connection for every case (a case is a few round trips).
fn client() -> &'static Mutex<postgres::Client> {
    static CLIENT: std::sync::OnceLock<Mutex<postgres::Client>> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| Mutex::new(TestDb::new("quoting").client()))
}

/// Strings of up to 63 bytes without NUL (PostgreSQL truncates longer names).
fn name_strategy() -> impl Strategy<Value = String> {
    "[^\u{0}]{1,63}".prop_filter_map("at most 63 bytes", |s| {
        let t = escape::truncate_name(&s, 63).to_string();
        (!t.is_empty()).then_some(t)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn literals_round_trip_whatever_standard_conforming_strings_says(s in "[^\u{0}]{0,80}") {
        let mut c = client().lock().unwrap();
        for setting in ["on", "off"] {
            c.batch_execute(&format!("SET standard_conforming_strings = {setting}")).unwrap();
            let sql = format!("SELECT {}::text", escape::literal(&s));
            let back: String = c.query_one(sql.as_str(), &[]).unwrap().get(0);
            prop_assert_eq!(&back, &s, "standard_conforming_strings = {}", setting);
        }
        c.batch_execute("RESET standard_conforming_strings").unwrap();
    }

    #[test]
    fn identifiers_name_exactly_the_string(s in name_strategy()) {
        let mut c = client().lock().unwrap();
        let sql = format!("SELECT 1 AS {}", escape::ident(&s));
        let stmt = c.prepare(sql.as_str()).unwrap();
        prop_assert_eq!(stmt.columns()[0].name(), s.as_str());
    }

    #[test]
    fn dollar_quotes_and_comments_hold_any_text(s in "[^\u{0}]{0,80}") {
        let mut c = client().lock().unwrap();
        let sql = format!("SELECT {}::text", escape::dollar_quote(&s));
        let back: String = c.query_one(sql.as_str(), &[]).unwrap().get(0);
        prop_assert_eq!(&back, &s);
        // A comment that ended early would leave SQL behind: one row, one column, the value 7.
        let sql = format!("SELECT 7 -- {}\n/* {} */", escape::comment(&s), escape::comment(&s));
        let rows = c.simple_query(&sql).unwrap();
        let values: Vec<_> = rows
            .iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_string)),
                _ => None,
            })
            .collect();
        prop_assert_eq!(values, vec![Some("7".to_string())]);
    }
}
