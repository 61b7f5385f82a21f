//! The per-source SYN rate limit: a token bucket per source address, in integer arithmetic
//! on nanoseconds, in a bounded table.
//!
//! ## Arithmetic (the BPF side does the same)
//!
//! Tokens are counted in units of 10⁻⁹ token ([`TOKEN`] = 10⁹ units is one SYN), so a rate
//! of `r` SYN/s adds exactly `elapsed_ns × r` units — no division, no rounding. A bucket of
//! burst `b` holds at most `b × TOKEN` units (≤ 4.3 × 10¹⁸, fits in a u64). On each SYN:
//!
//! ```text
//! cap     = max(burst, 1) * TOKEN
//! elapsed = now_ns > last_ns ? now_ns - last_ns : 0      // a clock going back adds nothing
//! add     = min(elapsed * rate, cap)                      // saturating multiply
//! tokens  = min(min(tokens, cap) + add, cap)
//! last_ns = max(last_ns, now_ns)
//! if tokens >= TOKEN { tokens -= TOKEN; pass } else { drop }
//! ```
//!
//! Without a saturating multiply (BPF), `add = elapsed > cap / rate ? cap : elapsed * rate`
//! (integer division; note `>`, and `cap`, not `(cap / rate) * rate`, which falls short of
//! `cap` when `rate` does not divide it) gives the same result. A new source starts with a
//! full bucket, minus the SYN that brought it.
//!
//! ## The table bound
//!
//! At most [`SynTable::capacity`] sources are tracked (default [`DEFAULT_SYN_SOURCES`],
//! 40 octets each: 2.5 MiB for the default). The table is set-associative: a source hashes
//! (with a seed) to one set of [`SYN_TABLE_WAYS`] slots; when its set is full, the slot seen
//! least recently is given to the new source (LRU within the set, like a BPF LRU hash map).
//! An evicted source that comes back starts with a full bucket again, so under more distinct
//! sources than the table holds the limit is approximate for the least active ones; the
//! sources that keep sending stay in their set. Evictions are counted.

use std::net::IpAddr;

/// One token (one SYN) in the bucket's units.
pub const TOKEN: u64 = 1_000_000_000;

/// Default number of sources tracked by the SYN rate limit.
pub const DEFAULT_SYN_SOURCES: usize = 65_536;

/// Upper bound of the number of sources a table can be asked for (2²⁶, 2.5 GiB).
pub const MAX_SYN_SOURCES: usize = 1 << 26;

/// Slots per set of the source table.
pub const SYN_TABLE_WAYS: usize = 4;

/// Default seed of the source table's hash (give a random one to
/// [`Classifier::with_syn_table`](crate::Classifier::with_syn_table) so that an attacker
/// cannot aim at one set).
pub const DEFAULT_SYN_SEED: u64 = 0x6D6D_7363_636C_6173;

/// A token bucket: `tokens` in units of 1/[`TOKEN`], refilled at `last_ns`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TokenBucket {
    /// Tokens × [`TOKEN`].
    pub tokens: u64,
    /// When the bucket was last refilled.
    pub last_ns: u64,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens (at least 1) at `now_ns`.
    pub fn full(burst: u32, now_ns: u64) -> TokenBucket {
        TokenBucket {
            tokens: capacity(burst),
            last_ns: now_ns,
        }
    }

    /// Refill for the time since the last call at `rate` tokens/s up to `burst` tokens, then
    /// take one token if there is one. Returns whether a token was taken.
    pub fn take(&mut self, now_ns: u64, rate: u32, burst: u32) -> bool {
        let cap = capacity(burst);
        let elapsed = now_ns.saturating_sub(self.last_ns);
        let add = elapsed.saturating_mul(u64::from(rate)).min(cap);
        // Both terms are <= cap <= 4.3e18, so the sum does not overflow.
        self.tokens = (self.tokens.min(cap) + add).min(cap);
        self.last_ns = self.last_ns.max(now_ns);
        if self.tokens >= TOKEN {
            self.tokens -= TOKEN;
            true
        } else {
            false
        }
    }
}

/// The bucket capacity in units: `max(burst, 1) × TOKEN`.
fn capacity(burst: u32) -> u64 {
    u64::from(burst.max(1)) * TOKEN
}

/// The address as a table key: (family, high 64 bits, low 64 bits).
fn key(addr: IpAddr) -> (u8, u64, u64) {
    match addr {
        IpAddr::V4(a) => (4, 0, u64::from(a.to_bits())),
        IpAddr::V6(a) => {
            let bits = a.to_bits();
            // Splitting a u128 into its halves.
            (6, (bits >> 64) as u64, bits as u64)
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// 0 = empty, 4 or 6.
    family: u8,
    hi: u64,
    lo: u64,
    bucket: TokenBucket,
}

/// The per-source buckets, bounded (see the module documentation).
#[derive(Clone, Debug)]
pub struct SynTable {
    slots: Vec<Slot>,
    /// Number of sets - 1 (a power of two minus one).
    set_mask: u64,
    seed: u64,
    rate: u32,
    burst: u32,
    evictions: u64,
}

impl SynTable {
    /// A table for at least `sources` sources (rounded up to a power of two, at least one
    /// set, at most [`MAX_SYN_SOURCES`]), limiting each to `rate` SYN/s with a burst of `burst`.
    pub fn new(sources: usize, seed: u64, rate: u32, burst: u32) -> SynTable {
        let sets = sources
            .clamp(1, MAX_SYN_SOURCES)
            .div_ceil(SYN_TABLE_WAYS)
            .next_power_of_two();
        SynTable {
            slots: vec![Slot::default(); sets * SYN_TABLE_WAYS],
            set_mask: (sets - 1) as u64,
            seed,
            rate,
            burst,
            evictions: 0,
        }
    }

    /// The number of sources the table holds at most.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The number of sources tracked now.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.family != 0).count()
    }

    /// Whether no source is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sources evicted so far to make room for new ones.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// The bucket of `src`, if it is tracked.
    pub fn bucket(&self, src: IpAddr) -> Option<TokenBucket> {
        let (family, hi, lo) = key(src);
        self.set(hi, lo)
            .and_then(|set| self.slots.get(set))?
            .iter()
            .find(|s| s.family == family && s.hi == hi && s.lo == lo)
            .map(|s| s.bucket)
    }

    fn set(&self, hi: u64, lo: u64) -> Option<std::ops::Range<usize>> {
        let h = hash(hi, lo, self.seed) & self.set_mask;
        // h <= set_mask < slots.len() / WAYS, which is a usize.
        let start = usize::try_from(h).ok()? * SYN_TABLE_WAYS;
        Some(start..start + SYN_TABLE_WAYS)
    }

    /// A SYN from `src` at `now_ns`: whether it may pass (takes a token if so).
    pub fn allow(&mut self, src: IpAddr, now_ns: u64) -> bool {
        let (family, hi, lo) = key(src);
        let (rate, burst) = (self.rate, self.burst);
        let Some(range) = self.set(hi, lo) else {
            return true;
        };
        let Some(set) = self.slots.get_mut(range) else {
            return true;
        };
        if let Some(slot) = set
            .iter_mut()
            .find(|s| s.family == family && s.hi == hi && s.lo == lo)
        {
            return slot.bucket.take(now_ns, rate, burst);
        }
        // A new source: an empty slot, else the one seen least recently.
        let victim = set
            .iter()
            .enumerate()
            .min_by_key(|(_, s)| (s.family != 0, s.bucket.last_ns))
            .map(|(i, _)| i);
        let Some(slot) = victim.and_then(|i| set.get_mut(i)) else {
            return true;
        };
        if slot.family != 0 {
            self.evictions = self.evictions.wrapping_add(1);
        }
        *slot = Slot {
            family,
            hi,
            lo,
            bucket: TokenBucket::full(burst, now_ns),
        };
        slot.bucket.take(now_ns, rate, burst)
    }
}

/// A 64-bit mix of the address halves and the seed (splitmix64's finaliser).
fn hash(hi: u64, lo: u64, seed: u64) -> u64 {
    let mut h = seed ^ hi.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h = (h ^ lo).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 31;
    h = h.wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 29)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn bucket_burst_then_refill() {
        let mut b = TokenBucket::full(3, 0);
        assert!(b.take(0, 2, 3));
        assert!(b.take(0, 2, 3));
        assert!(b.take(0, 2, 3));
        assert!(!b.take(0, 2, 3));
        // 2 tokens/s: one more after 0.5 s, not before.
        assert!(!b.take(SEC / 2 - 1, 2, 3));
        assert!(b.take(SEC / 2, 2, 3));
        assert!(!b.take(SEC / 2, 2, 3));
        // Never more than the burst, however long the pause.
        let later = 1000 * SEC;
        for _ in 0..3 {
            assert!(b.take(later, 2, 3));
        }
        assert!(!b.take(later, 2, 3));
    }

    #[test]
    fn bucket_exact_arithmetic_without_rounding_loss() {
        // 3 tokens/s: a token every 333 333 333.33 ns; three of them in exactly 1 s, taken
        // in 3000 uneven steps. (Burst 2 so that the cap never clips a step.)
        let mut b = TokenBucket::full(2, 0);
        assert!(b.take(0, 3, 2));
        assert!(b.take(0, 3, 2));
        assert_eq!(b.tokens, 0);
        let mut passed = 0;
        for i in 1..=3000u64 {
            if b.take(i * SEC / 3000, 3, 2) {
                passed += 1;
            }
        }
        assert_eq!(passed, 3);
        assert_eq!(b.tokens, 0);
    }

    #[test]
    fn bucket_survives_extremes() {
        let mut b = TokenBucket::full(u32::MAX, 0);
        assert!(b.take(u64::MAX, u32::MAX, u32::MAX));
        assert_eq!(b.tokens, capacity(u32::MAX) - TOKEN);
        // The clock going back adds nothing and does not move last_ns back.
        let mut b = TokenBucket::full(1, 10 * SEC);
        assert!(b.take(10 * SEC, 1, 1));
        assert!(!b.take(5 * SEC, 1, 1));
        assert_eq!(b.last_ns, 10 * SEC);
        assert!(!b.take(11 * SEC - 1, 1, 1));
        assert!(b.take(11 * SEC, 1, 1));
        // Burst 0 behaves as 1.
        let mut b = TokenBucket::full(0, 0);
        assert!(b.take(0, 1, 0));
        assert!(!b.take(0, 1, 0));
    }

    #[test]
    fn table_is_bounded_and_evicts_the_least_recent() {
        let mut t = SynTable::new(8, 1, 1, 1);
        assert_eq!(t.capacity(), 8);
        assert!(t.is_empty());
        for i in 0..1000u32 {
            let a = IpAddr::V4(i.into());
            assert!(t.allow(a, u64::from(i)), "a new source starts full");
        }
        assert_eq!(t.len(), 8);
        assert_eq!(t.evictions(), 1000 - 8);
        // The most recent source is still there and has no token left.
        let last = IpAddr::V4(999u32.into());
        assert_eq!(t.bucket(last).map(|b| b.tokens), Some(0));
        assert!(!t.allow(last, 999));
    }

    #[test]
    fn table_keeps_families_apart() {
        let mut t = SynTable::new(64, 7, 1, 1);
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert!(t.allow(v4, 0));
        assert!(!t.allow(v4, 0));
        assert!(t.allow(mapped, 0));
        assert!(!t.allow(mapped, 0));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn table_sizes_round_up() {
        assert_eq!(SynTable::new(0, 0, 1, 1).capacity(), SYN_TABLE_WAYS);
        assert_eq!(SynTable::new(5, 0, 1, 1).capacity(), 8);
        assert_eq!(
            SynTable::new(DEFAULT_SYN_SOURCES, 0, 1, 1).capacity(),
            65_536
        );
    }
}
