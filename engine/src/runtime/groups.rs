//! The group index of an aggregation: encoded group keys (Arrow row format) → dense group
//! indices, with the keys kept in one contiguous buffer (no allocation per group) and a raw
//! hash table of indices (each key hashed once, when first seen; never rehashed).

use hashbrown::HashTable;
use std::hash::BuildHasher;

pub(crate) struct GroupIndex {
    table: HashTable<usize>,
    hasher: foldhash::fast::FixedState,
    /// Per group: its hash, and where its key lies in `data`.
    hashes: Vec<u64>,
    offsets: Vec<usize>,
    data: Vec<u8>,
}

impl GroupIndex {
    pub(crate) fn new() -> Self {
        Self {
            table: HashTable::new(),
            hasher: foldhash::fast::FixedState::with_seed(0x5765_6972),
            hashes: Vec::new(),
            offsets: vec![0],
            data: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.hashes.len()
    }

    pub(crate) fn key(&self, group: usize) -> &[u8] {
        &self.data[self.offsets[group]..self.offsets[group + 1]]
    }

    /// The group of `key`, and whether it is new (then it is the last index).
    pub(crate) fn intern(&mut self, key: &[u8]) -> (usize, bool) {
        let hash = self.hasher.hash_one(key);
        let (data, offsets) = (&self.data, &self.offsets);
        if let Some(&g) = self
            .table
            .find(hash, |&g| &data[offsets[g]..offsets[g + 1]] == key)
        {
            return (g, false);
        }
        let g = self.push(key, hash);
        let hashes = &self.hashes;
        self.table.insert_unique(hash, g, |&i| hashes[i]);
        (g, true)
    }

    /// Appends a group that is not looked up by key (a session: one key has several).
    pub(crate) fn push_unindexed(&mut self, key: &[u8]) -> usize {
        let hash = self.hasher.hash_one(key);
        self.push(key, hash)
    }

    fn push(&mut self, key: &[u8], hash: u64) -> usize {
        let g = self.hashes.len();
        self.hashes.push(hash);
        self.data.extend_from_slice(key);
        self.offsets.push(self.data.len());
        g
    }

    /// Keeps the groups `kept` (in that order, as the new indices 0..). `indexed` says whether
    /// the groups are looked up by key (not for sessions).
    pub(crate) fn retain(&mut self, kept: &[usize], indexed: bool) {
        let mut data = Vec::with_capacity(kept.iter().map(|&g| self.key_len(g)).sum());
        let mut offsets = Vec::with_capacity(kept.len() + 1);
        offsets.push(0);
        let mut hashes = Vec::with_capacity(kept.len());
        for &g in kept {
            data.extend_from_slice(self.key(g));
            offsets.push(data.len());
            hashes.push(self.hashes[g]);
        }
        self.data = data;
        self.offsets = offsets;
        self.hashes = hashes;
        self.table.clear();
        if indexed {
            let hashes = &self.hashes;
            for g in 0..hashes.len() {
                self.table.insert_unique(hashes[g], g, |&i| hashes[i]);
            }
        }
    }

    fn key_len(&self, group: usize) -> usize {
        self.offsets[group + 1] - self.offsets[group]
    }
}
