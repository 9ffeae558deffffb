//! Numbers the way the report and the charts show them: three significant digits, a unit that keeps the
//! number short, and thousands separators, so that a table can be read without counting digits.

/// What a table shows for a figure whose inputs are missing.
pub const NOT_MEASURED: &str = "not measured";

/// `value` shown with `show`, or [`NOT_MEASURED`].
pub fn or_not_measured(value: Option<f64>, show: fn(f64) -> String) -> String {
    value.map_or_else(|| NOT_MEASURED.to_owned(), show)
}

/// `value` with `decimals` decimals and commas between groups of three digits.
pub fn grouped(value: f64, decimals: usize) -> String {
    let text = format!("{:.decimals$}", value.abs());
    let (whole, fraction) = text.split_once('.').map_or((text.as_str(), None), |(w, f)| (w, Some(f)));
    let mut out = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if let Some(fraction) = fraction {
        out.push('.');
        out.push_str(fraction);
    }
    if value < 0.0 && out.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.insert(0, '-');
    }
    out
}

/// About three significant digits: two decimals below 10, one below 100, none above.
fn significant(value: f64) -> String {
    let decimals = match value.abs() {
        v if v < 10.0 => 2,
        v if v < 100.0 => 1,
        _ => 0,
    };
    grouped(value, decimals)
}

/// A duration given in nanoseconds: in ns up to 9,999 ns (where page-sized work lies, so such figures
/// compare at a glance), then in µs, ms or s, whichever keeps the number under 1,000.
pub fn duration(ns: f64) -> String {
    let (value, unit) = match ns.abs() {
        v if v < 1e4 => (ns, "ns"),
        v if v < 1e6 => (ns / 1e3, "µs"),
        v if v < 1e9 => (ns / 1e6, "ms"),
        _ => (ns / 1e9, "s"),
    };
    let number = if unit == "ns" && value.abs() >= 100.0 { grouped(value, 0) } else { significant(value) };
    format!("{number} {unit}")
}

/// A count: whole numbers as such, medians between two counts with one decimal.
pub fn count(value: f64) -> String {
    if value.fract() == 0.0 { grouped(value, 0) } else { grouped(value, 1) }
}

/// A ratio of two figures, `62.1×`.
pub fn ratio(value: f64) -> String {
    format!("{}×", significant(value))
}

pub fn mb_per_s(value: f64) -> String {
    format!("{} MB/s", significant(value))
}

pub fn percent(value: f64) -> String {
    format!("{} %", significant(value))
}

/// A counter frequency, `62.5 MHz`.
pub fn frequency(hz: u64) -> String {
    format!("{} MHz", hz as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(grouped(0.0, 0), "0");
        assert_eq!(grouped(999.0, 0), "999");
        assert_eq!(grouped(1000.0, 0), "1,000");
        assert_eq!(grouped(1_234_567.891, 1), "1,234,567.9");
        assert_eq!(grouped(-12_345.0, 0), "-12,345");
        assert_eq!(grouped(-0.01, 1), "0.0");
    }

    #[test]
    fn durations_take_the_unit_that_keeps_them_short() {
        assert_eq!(duration(45.25), "45.2 ns");
        assert_eq!(duration(9999.0), "9,999 ns");
        assert_eq!(duration(12_345.0), "12.3 µs");
        assert_eq!(duration(999_000.0), "999 µs");
        assert_eq!(duration(1_234_567.0), "1.23 ms");
        assert_eq!(duration(5_000_000.0), "5.00 ms");
        assert_eq!(duration(90_000_000.0), "90.0 ms");
        assert_eq!(duration(12e9), "12.0 s");
        assert_eq!(duration(1_234e9), "1,234 s");
    }

    #[test]
    fn counts_ratios_and_rates() {
        assert_eq!(count(16_384.0), "16,384");
        assert_eq!(count(2.5), "2.5");
        assert_eq!(ratio(62.14), "62.1×");
        assert_eq!(ratio(1.8), "1.80×");
        assert_eq!(ratio(409.6), "410×");
        assert_eq!(mb_per_s(10_240.0), "10,240 MB/s");
        assert_eq!(percent(1.2345), "1.23 %");
        assert_eq!(frequency(62_500_000), "62.5 MHz");
        assert_eq!(frequency(1_000_000_000), "1000 MHz");
        assert_eq!(or_not_measured(None, ratio), "not measured");
    }
}
