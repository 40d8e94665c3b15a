//! A map of bounded size that forgets its least recently used entry.
//!
//! Owns: the recency order and the bound. Does not own: what the values
//! mean ([`super::rate_limit`] keeps a token bucket per source in one).
//!
//! Every operation costs a hash look-up and a few index updates, full or
//! not: the entries live in one vector linked in recency order by indices
//! (no allocation per entry once the vector has grown), and a new key when
//! the map is full takes the slot of the least recently used one. Forged UDP
//! sources, one datagram each, cost the same as a known one.

use std::collections::HashMap;
use std::hash::Hash;

/// "No entry" in the recency links.
const NONE: u32 = u32::MAX;

#[derive(Debug)]
struct Node<K, V> {
    key: K,
    value: V,
    /// Toward the most recently used.
    newer: u32,
    /// Toward the least recently used.
    older: u32,
}

#[derive(Debug)]
pub struct Lru<K, V> {
    index: HashMap<K, u32>,
    nodes: Vec<Node<K, V>>,
    /// Most recently used.
    newest: u32,
    /// Least recently used: the next to go.
    oldest: u32,
    capacity: usize,
}

impl<K: Hash + Eq + Copy, V> Lru<K, V> {
    /// At most `capacity` entries (at least 1, below `u32::MAX`).
    pub fn new(capacity: usize) -> Lru<K, V> {
        Lru {
            index: HashMap::new(),
            nodes: Vec::new(),
            newest: NONE,
            oldest: NONE,
            capacity: capacity.clamp(1, (NONE - 1) as usize),
        }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The value of `key`, now the most recently used; a new entry made by
    /// `new` when there is none (taking the least recently used one's
    /// place when the map is full).
    pub fn get_or_insert_with(&mut self, key: K, new: impl FnOnce() -> V) -> &mut V {
        let at = match self.index.get(&key) {
            Some(&at) => {
                self.unlink(at);
                at
            }
            None if self.nodes.len() < self.capacity => {
                let at = self.nodes.len() as u32;
                self.nodes.push(Node {
                    key,
                    value: new(),
                    newer: NONE,
                    older: NONE,
                });
                self.index.insert(key, at);
                at
            }
            None => {
                let at = self.oldest;
                self.unlink(at);
                let node = &mut self.nodes[at as usize];
                self.index.remove(&node.key);
                node.key = key;
                node.value = new();
                self.index.insert(key, at);
                at
            }
        };
        self.push_newest(at);
        &mut self.nodes[at as usize].value
    }

    /// Take node `at` out of the recency order.
    fn unlink(&mut self, at: u32) {
        let (newer, older) = {
            let n = &self.nodes[at as usize];
            (n.newer, n.older)
        };
        match newer {
            NONE => self.newest = older,
            i => self.nodes[i as usize].older = older,
        }
        match older {
            NONE => self.oldest = newer,
            i => self.nodes[i as usize].newer = newer,
        }
    }

    /// Put node `at` (unlinked) first in the recency order.
    fn push_newest(&mut self, at: u32) {
        let old_newest = self.newest;
        {
            let n = &mut self.nodes[at as usize];
            n.newer = NONE;
            n.older = old_newest;
        }
        match old_newest {
            NONE => self.oldest = at,
            i => self.nodes[i as usize].newer = at,
        }
        self.newest = at;
    }

    /// The keys from the most to the least recently used (tests).
    #[cfg(test)]
    fn keys(&self) -> Vec<K> {
        let mut out = Vec::new();
        let mut at = self.newest;
        while at != NONE {
            out.push(self.nodes[at as usize].key);
            at = self.nodes[at as usize].older;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_full_map_forgets_the_least_recently_used() {
        let mut lru: Lru<u32, u32> = Lru::new(3);
        for k in 0..3 {
            *lru.get_or_insert_with(k, || 0) += k;
        }
        assert_eq!(lru.keys(), vec![2, 1, 0]);
        // 0 used again: 1 is now the oldest.
        *lru.get_or_insert_with(0, || 99) += 10;
        assert_eq!(lru.keys(), vec![0, 2, 1]);
        assert_eq!(*lru.get_or_insert_with(3, || 7), 7);
        assert_eq!(lru.keys(), vec![3, 0, 2]);
        assert_eq!(lru.len(), 3);
        // 0 kept its value; 1 comes back new.
        assert_eq!(*lru.get_or_insert_with(0, || 99), 10);
        assert_eq!(*lru.get_or_insert_with(1, || 42), 42);
        assert_eq!(lru.keys(), vec![1, 0, 3]);
    }

    proptest! {
        /// Against a model: a vector in recency order.
        #[test]
        fn it_behaves_as_a_recency_list(capacity in 1usize..6, keys in prop::collection::vec(0u8..10, 0..200)) {
            let mut lru: Lru<u8, u32> = Lru::new(capacity);
            let mut model: Vec<(u8, u32)> = Vec::new();
            for (i, k) in keys.into_iter().enumerate() {
                let got = *lru.get_or_insert_with(k, || i as u32);
                let want = match model.iter().position(|&(m, _)| m == k) {
                    Some(p) => model.remove(p).1,
                    None => {
                        if model.len() == capacity {
                            model.pop();
                        }
                        i as u32
                    }
                };
                model.insert(0, (k, want));
                prop_assert_eq!(got, want);
                prop_assert_eq!(lru.keys(), model.iter().map(|&(k, _)| k).collect::<Vec<_>>());
                prop_assert!(lru.len() <= capacity);
            }
        }
    }
}
