//! Figures for people: durations and ratios with three significant digits, in the unit that
//! keeps them readable (`42 µs`, `1.85 ms`, `205 ms`, `3.2 s`). JSON keeps full precision;
//! only human text goes through here.

/// Rounds `v` to three significant digits and drops trailing zeros (`1.80` -> `1.8`).
fn three_digits(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let magnitude = v.abs().log10().floor() as i32;
    let decimals = (2 - magnitude).max(0) as usize;
    let mut s = format!("{v:.decimals$}");
    // Rounding may carry into a new digit (999.6 -> "1000"): still three significant digits.
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    s
}

/// A duration given in milliseconds: `42 µs`, `1.85 ms`, `205 ms`, `3.2 s`, `12.5 min`.
pub fn ms(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let a = v.abs();
    if a == 0.0 {
        "0 ms".into()
    } else if a < 0.9995 {
        format!("{} µs", three_digits(v * 1000.0))
    } else if a < 999.5 {
        format!("{} ms", three_digits(v))
    } else if a < 59_950.0 {
        format!("{} s", three_digits(v / 1000.0))
    } else {
        format!("{} min", three_digits(v / 60_000.0))
    }
}

/// Two durations to compare (`mean 100.02 ms > budget 100 ms`): three significant digits
/// unless that would print the same figure for different values, then to the microsecond.
pub fn ms_pair(a: f64, b: f64) -> (String, String) {
    let (x, y) = (ms(a), ms(b));
    if x != y || a == b {
        return (x, y);
    }
    // More decimals until they differ; the shortest exact form as the last resort.
    for decimals in [3, 6, 9] {
        let (x, y) = (format!("{a:.decimals$} ms"), format!("{b:.decimals$} ms"));
        if x != y {
            return (x, y);
        }
    }
    (format!("{a} ms"), format!("{b} ms"))
}

/// A count or a planner cost: whole below a million, else three significant digits in
/// scientific form (`1.79e34`), never a 35-digit figure.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v.abs() < 1e6 {
        format!("{v:.0}")
    } else {
        format!("{v:.2e}")
    }
}

/// A ratio such as a speedup: `9140x`, `2.5x`; `-` when the divisor is zero.
pub fn ratio(numerator: f64, denominator: f64) -> String {
    if denominator <= 0.0 || !numerator.is_finite() || !denominator.is_finite() {
        return "-".into();
    }
    let r = numerator / denominator;
    if r >= 1000.0 {
        format!("{:.0}x", r)
    } else {
        format!("{}x", three_digits(r))
    }
}

/// Bytes: `812 B`, `1.5 kB`, `211 MB`, `2.6 GB` (decimal units).
pub fn bytes(v: f64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut value = v;
    let mut unit = 0;
    while value.abs() >= 999.5 && unit < units.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{} {}", three_digits(value), units[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_keep_three_significant_digits() {
        assert_eq!(ms(0.042), "42 µs");
        assert_eq!(ms(0.0423), "42.3 µs");
        assert_eq!(ms(1.853), "1.85 ms");
        assert_eq!(ms(205.2), "205 ms");
        assert_eq!(ms(0.0), "0 ms");
        assert_eq!(ms(0.0000004), "0.0004 µs");
        assert_eq!(ms(0.9999), "1 ms");
        assert_eq!(ms(999.7), "1 s");
        assert_eq!(ms(3200.0), "3.2 s");
        assert_eq!(ms(750_000.0), "12.5 min");
        assert_eq!(ms(f64::NAN), "-");
    }

    #[test]
    fn a_comparison_never_prints_two_equal_figures() {
        assert_eq!(
            ms_pair(100.02, 100.0),
            ("100.020 ms".into(), "100.000 ms".into())
        );
        assert_eq!(ms_pair(150.0, 100.0), ("150 ms".into(), "100 ms".into()));
        assert_eq!(
            ms_pair(100.0003, 100.0),
            ("100.000300 ms".into(), "100.000000 ms".into())
        );
        assert_eq!(number(17929687517929686189262731401494528.0), "1.79e34");
        assert_eq!(number(9999.4), "9999");
    }

    #[test]
    fn ratios_and_sizes() {
        assert_eq!(ratio(91.38, 0.01), "9138x");
        assert_eq!(ratio(5.0, 2.0), "2.5x");
        assert_eq!(ratio(1.0, 0.0), "-");
        assert_eq!(bytes(812.0), "812 B");
        assert_eq!(bytes(211e6), "211 MB");
        assert_eq!(bytes(1_500.0), "1.5 kB");
    }
}
