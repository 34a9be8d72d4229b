//! A compact set of object addresses with ranks: one bit per 8-byte granule in 64 KiB pages,
//! so marking a heap of N bytes costs about N/64 bytes (a hash map of a million pointers would
//! cost a third of a heap of small tables). After the walk, [`AddrSet::ranked`] numbers the
//! members in address order, which lets the snapshot writer turn an edge's target address into
//! its node's index with one small array instead of a pointer-keyed map.

use std::collections::HashMap;

const PAGE_SHIFT: u32 = 16;
const WORDS: usize = 1 << (PAGE_SHIFT - 3 - 6);

/// Addresses seen so far.
#[derive(Default)]
pub struct AddrSet {
    pages: HashMap<u64, u32>,
    bits: Vec<[u64; WORDS]>,
    last: Option<(u64, u32)>,
    len: usize,
}

fn split(addr: u64) -> (u64, usize, u32) {
    let page = addr >> PAGE_SHIFT;
    let granule = ((addr >> 3) & ((1 << (PAGE_SHIFT - 3)) - 1)) as usize;
    (page, granule / 64, (granule % 64) as u32)
}

impl AddrSet {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn page(&mut self, page: u64) -> usize {
        if let Some((p, i)) = self.last {
            if p == page {
                return i as usize;
            }
        }
        let next = self.bits.len() as u32;
        let i = *self.pages.entry(page).or_insert(next);
        if i == next {
            self.bits.push([0; WORDS]);
        }
        self.last = Some((page, i));
        i as usize
    }

    /// Adds `addr`; true when it was not there yet.
    pub fn insert(&mut self, addr: u64) -> bool {
        let (page, word, bit) = split(addr);
        let i = self.page(page);
        let w = &mut self.bits[i][word];
        let fresh = *w & (1 << bit) == 0;
        *w |= 1 << bit;
        self.len += fresh as usize;
        fresh
    }

    pub fn contains(&self, addr: u64) -> bool {
        let (page, word, bit) = split(addr);
        match self.pages.get(&page) {
            Some(&i) => self.bits[i as usize][word] & (1 << bit) != 0,
            None => false,
        }
    }

    /// Freezes the set: every member gets its rank (0-based, in address order).
    pub fn ranked(self) -> Ranked {
        let mut order: Vec<(u64, u32)> = self.pages.into_iter().collect();
        order.sort_unstable();
        let mut pages = HashMap::with_capacity(order.len());
        let mut prefix = vec![[0u16; WORDS]; self.bits.len()];
        let mut base = 0u32;
        for (page, i) in order {
            pages.insert(page, (i, base));
            let mut within = 0u16;
            for (w, word) in self.bits[i as usize].iter().enumerate() {
                prefix[i as usize][w] = within;
                within += word.count_ones() as u16;
            }
            base += within as u32;
        }
        Ranked {
            pages,
            bits: self.bits,
            prefix,
            len: self.len,
        }
    }
}

/// The frozen set: address to rank.
pub struct Ranked {
    pages: HashMap<u64, (u32, u32)>,
    bits: Vec<[u64; WORDS]>,
    prefix: Vec<[u16; WORDS]>,
    len: usize,
}

impl Ranked {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The member's rank, `None` for an address that is not in the set.
    pub fn rank(&self, addr: u64) -> Option<u32> {
        let (page, word, bit) = split(addr);
        let &(i, base) = self.pages.get(&page)?;
        let w = self.bits[i as usize][word];
        if w & (1 << bit) == 0 {
            return None;
        }
        let below = (w & ((1u64 << bit) - 1)).count_ones();
        Some(base + self.prefix[i as usize][word] as u32 + below)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_follow_address_order_across_pages() {
        let mut s = AddrSet::default();
        let addrs = [
            0x7f00_0001_0008u64,
            0x10,
            0x5555_0000_0000,
            0x18,
            0x7f00_0000_fff8,
        ];
        for a in addrs {
            assert!(s.insert(a));
        }
        assert!(!s.insert(0x10));
        assert_eq!(s.len(), 5);
        assert!(s.contains(0x18) && !s.contains(0x20));
        let r = s.ranked();
        let mut sorted = addrs.to_vec();
        sorted.sort();
        for (i, a) in sorted.iter().enumerate() {
            assert_eq!(r.rank(*a), Some(i as u32), "{a:#x}");
        }
        assert_eq!(r.rank(0x28), None);
    }
}
