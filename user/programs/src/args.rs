//! Reading the argument string: programs take their options as whitespace-separated words.

/// The `index`-th word of `args` as a number (decimal, or hexadecimal with `0x`), `default` if there is no
/// such word, or `Err` with the word if it is not a number.
pub fn number(args: &str, index: usize, default: u64) -> Result<u64, &str> {
    let Some(word) = args.split_whitespace().nth(index) else { return Ok(default) };
    let parsed = match word.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => word.parse(),
    };
    parsed.map_err(|_| word)
}
