//! The series index: an open-addressing table from a key's 64-bit hash to
//! the series' number, with linear probing and a load factor under ½.
//!
//! It exists, rather than a general hash map, for one reason: a batch of
//! events can *prefetch* the slot of an event a few positions ahead, then
//! the series entry it points to, so that with a million series the memory
//! latency of one event overlaps the work on the others. Equality of keys is
//! always confirmed by the caller; the stored hash only filters candidates.

/// One slot: the full hash and the series number (`EMPTY` when free).
#[derive(Debug, Clone, Copy)]
struct Slot {
    hash: u64,
    idx: u32,
}

const EMPTY: u32 = u32::MAX;

/// Hash → series number.
#[derive(Debug)]
pub struct SeriesIndex {
    slots: Vec<Slot>,
    mask: usize,
    len: usize,
}

impl Default for SeriesIndex {
    fn default() -> Self {
        Self::with_capacity(16)
    }
}

impl SeriesIndex {
    /// An index sized for `n` series without growing.
    pub fn with_capacity(n: usize) -> Self {
        let size = (n.max(8) * 2).next_power_of_two();
        Self { slots: vec![Slot { hash: 0, idx: EMPTY }; size], mask: size - 1, len: 0 }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The series number whose key has `hash` and for which `eq` holds.
    pub fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let mut i = hash as usize & self.mask;
        loop {
            let s = self.slots[i];
            if s.idx == EMPTY {
                return None;
            }
            if s.hash == hash && eq(s.idx) {
                return Some(s.idx);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The first candidate for `hash`, unconfirmed (for prefetching only).
    pub fn peek(&self, hash: u64) -> Option<u32> {
        let mut i = hash as usize & self.mask;
        loop {
            let s = self.slots[i];
            if s.idx == EMPTY {
                return None;
            }
            if s.hash == hash {
                return Some(s.idx);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Adds an entry known to be absent.
    pub fn insert(&mut self, hash: u64, idx: u32) {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mut i = hash as usize & self.mask;
        while self.slots[i].idx != EMPTY {
            i = (i + 1) & self.mask;
        }
        self.slots[i] = Slot { hash, idx };
        self.len += 1;
    }

    fn grow(&mut self) {
        let old = std::mem::take(&mut self.slots);
        let size = old.len() * 2;
        self.slots = vec![Slot { hash: 0, idx: EMPTY }; size];
        self.mask = size - 1;
        for s in old.into_iter().filter(|s| s.idx != EMPTY) {
            let mut i = s.hash as usize & self.mask;
            while self.slots[i].idx != EMPTY {
                i = (i + 1) & self.mask;
            }
            self.slots[i] = s;
        }
    }

    /// Asks the CPU to bring the home slot of `hash` into cache.
    pub fn prefetch(&self, hash: u64) {
        prefetch(&self.slots[hash as usize & self.mask]);
    }
}

/// Asks the CPU to bring the cache line holding `r` into cache; a hint with
/// no effect on what the program computes.
#[inline(always)]
#[allow(unsafe_code)]
pub fn prefetch<T: ?Sized>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` never dereferences in a way that can fault or
    // be observed; the pointer comes from a live reference anyway. SSE is
    // part of the x86_64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>((r as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}

/// [`prefetch`] for an address inside a live object (e.g. the second cache
/// line of a large struct). Never dereferenced.
#[inline(always)]
#[allow(unsafe_code)]
pub fn prefetch_addr(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is a hint: it does not fault and is not observable,
    // whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// [`prefetch_addr`] of every cache line holding bytes `from..to` of `r`.
#[inline(always)]
pub fn prefetch_lines<T>(r: &T, from: usize, to: usize) {
    let base = (r as *const T).cast::<u8>();
    let first = base.wrapping_add(from);
    // From the start of the line holding `from`, a line at a time.
    let mut p = first.wrapping_sub(first as usize & 63);
    let end = (base as usize).wrapping_add(to);
    while (p as usize) < end {
        prefetch_addr(p);
        p = p.wrapping_add(64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the hashes (collisions included), every inserted entry is
        /// found by its hash and its identity, and nothing else is.
        #[test]
        fn finds_what_was_inserted(hashes in proptest::collection::vec(0u64..64, 1..300)) {
            let mut ix = SeriesIndex::with_capacity(1);
            for (i, h) in hashes.iter().enumerate() {
                ix.insert(*h, i as u32);
            }
            prop_assert_eq!(ix.len(), hashes.len());
            for (i, h) in hashes.iter().enumerate() {
                prop_assert_eq!(ix.find(*h, |idx| idx == i as u32), Some(i as u32));
            }
            prop_assert_eq!(ix.find(1_000, |_| true), None);
        }
    }
}
