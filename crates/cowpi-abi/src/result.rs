//! The result register: how one `x0` carries either a value or an error.
//!
//! Read as an `i64`, a result is a value when it is `>= 0` and the negated [`Error`] number when it is
//! negative, the convention Linux uses too. Values therefore stop at `i64::MAX`, far above anything a call
//! returns (user addresses are below 2^39).

use crate::Error;

/// The largest value a successful call can return.
pub const MAX_VALUE: u64 = i64::MAX as u64;

/// What the kernel puts in `x0` for this outcome.
///
/// # Panics
///
/// If an `Ok` value exceeds [`MAX_VALUE`]: it would read as an error, so the kernel has a bug.
pub fn encode(result: Result<u64, Error>) -> u64 {
    match result {
        Ok(value) => {
            assert!(value <= MAX_VALUE, "system-call value {value:#x} does not fit the result register");
            value
        }
        Err(error) => error.number().wrapping_neg(),
    }
}

/// The outcome a returned `x0` stands for, or `None` if it is negative but names no [`Error`] (a kernel
/// bug, or a kernel newer than this library: the caller decides how loudly to fail).
pub fn decode(raw: u64) -> Option<Result<u64, Error>> {
    if raw <= MAX_VALUE { Some(Ok(raw)) } else { Error::from_number(raw.wrapping_neg()).map(Err) }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn errors_are_negated_numbers() {
        assert_eq!(encode(Err(Error::InvalidArgument)) as i64, -1);
        assert_eq!(encode(Err(Error::BadAddress)) as i64, -2);
        assert_eq!(decode(-3_i64 as u64), Some(Err(Error::NoSuchSyscall)));
        for error in Error::ALL {
            assert_eq!(decode(encode(Err(error))), Some(Err(error)));
        }
    }

    #[test]
    fn values_pass_through() {
        for value in [0, 1, 4096, 0x7F_FFFF_F000, MAX_VALUE] {
            assert_eq!(encode(Ok(value)), value);
            assert_eq!(decode(value), Some(Ok(value)));
        }
    }

    #[test]
    fn unknown_negative_results_decode_to_none() {
        for raw in [-12_i64, -4095, i64::MIN, -1_000_000] {
            assert_eq!(decode(raw as u64), None, "{raw}");
        }
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn a_value_that_would_read_as_an_error_is_refused() {
        encode(Ok(MAX_VALUE + 1));
    }

    proptest! {
        #[test]
        fn decode_inverts_encode(value in 0..=MAX_VALUE, index in 0..Error::ALL.len()) {
            prop_assert_eq!(decode(encode(Ok(value))), Some(Ok(value)));
            let error = Error::ALL[index];
            prop_assert_eq!(decode(encode(Err(error))), Some(Err(error)));
        }

        #[test]
        fn every_decoded_outcome_encodes_back_to_the_same_register(raw in any::<u64>()) {
            if let Some(outcome) = decode(raw) {
                prop_assert_eq!(encode(outcome), raw);
            } else {
                prop_assert!(raw > MAX_VALUE);
            }
        }
    }
}
