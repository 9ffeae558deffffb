//! The seeded generator of the stress programs (`forkstress`, `sysfuzz`): the same seed makes the same
//! choices everywhere, so a failure's seed reproduces the run.
//!
//! xorshift64*: small, fast, and good enough to pick pages, words and arguments; nothing here needs more.
//! It is written out rather than taken from a crate because a seed's sequence is part of what the tests
//! record: `tests/kernel/fuzz.rs` names the calls at which given seeds met the bugs they guard against
//! (seed 1 at call 65 695, say), and those stay true only while the generator stays this one.

/// A seeded generator, with the few ways of drawing the programs use.
pub struct Rng(u64);

impl Rng {
    /// The generator of `seed`; nearby seeds start far apart.
    pub fn new(seed: u64) -> Rng {
        // Never 0 (a fixed point of xorshift).
        let state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
        Rng(if state == 0 { 1 } else { state })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (which must not be 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True once in `n` times, on average.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    /// One of `items` (which must not be empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}
