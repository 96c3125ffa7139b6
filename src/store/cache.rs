//! Rows read once and kept in memory while [`Store::generation`] says
//! nothing they came from has changed.
//!
//! [`Store::generation`]: super::Store::generation

use std::collections::HashMap;
use std::sync::Mutex;

/// Values by key (a hash: a code or key is never kept), all read at one
/// generation. When the store's generation moves on, the next call empties
/// the cache — so nothing read before a change is handed out afterwards,
/// and personal data that was erased or purged does not linger here either.
pub struct ReadCache<V> {
    inner: Mutex<Inner<V>>,
    capacity: usize,
}

struct Inner<V> {
    generation: u64,
    entries: HashMap<Vec<u8>, V>,
}

impl<V> Inner<V> {
    /// Empties the cache if `generation` is newer than what it holds.
    fn catch_up(&mut self, generation: u64) {
        if generation > self.generation {
            self.entries.clear();
            self.generation = generation;
        }
    }
}

impl<V: Clone> ReadCache<V> {
    /// At most `capacity` entries; a full cache starts over.
    pub fn new(capacity: usize) -> ReadCache<V> {
        ReadCache {
            inner: Mutex::new(Inner {
                generation: 0,
                entries: HashMap::new(),
            }),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<V>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value kept for `key`, if it was read at `generation` (the
    /// store's current one).
    pub fn get(&self, key: &[u8], generation: u64) -> Option<V> {
        let mut inner = self.lock();
        inner.catch_up(generation);
        if inner.generation != generation {
            return None;
        }
        inner.entries.get(key).cloned()
    }

    /// Keeps `value`, read from rows after `generation` was taken. A value
    /// read before a newer generation is not kept.
    pub fn put(&self, key: Vec<u8>, generation: u64, value: V) {
        let mut inner = self.lock();
        inner.catch_up(generation);
        if inner.generation != generation {
            return;
        }
        if inner.entries.len() >= self.capacity && !inner.entries.contains_key(&key) {
            inner.entries.clear();
        }
        inner.entries.insert(key, value);
    }

    /// How many values are kept.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_served_only_at_its_generation() {
        let cache = ReadCache::new(2);
        cache.put(b"a".to_vec(), 7, "one");
        assert_eq!(cache.get(b"a", 7), Some("one"));
        assert_eq!(cache.get(b"b", 7), None);
        cache.put(b"b".to_vec(), 7, "two");
        cache.put(b"c".to_vec(), 7, "three");
        assert_eq!(cache.get(b"c", 7), Some("three"), "full: started over");
        assert_eq!(cache.get(b"a", 7), None);
        // Something changed: everything goes, at the first call after.
        assert_eq!(cache.get(b"c", 8), None);
        assert!(cache.is_empty());
        // A value read before the change is not kept.
        cache.put(b"d".to_vec(), 7, "old");
        assert_eq!(cache.get(b"d", 8), None);
        assert!(cache.is_empty());
        cache.put(b"d".to_vec(), 8, "new");
        assert_eq!(cache.get(b"d", 8), Some("new"));
    }
}
