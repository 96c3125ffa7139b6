//! Rows read once and kept in memory while [`Store::generation`] says
//! nothing they came from has changed.
//!
//! [`Store::generation`]: super::Store::generation

use std::collections::HashMap;
use std::sync::Mutex;

/// Values by key (a hash: a code or key is never kept), each with the
/// generation read *before* its rows were. An entry is handed out only
/// while the generation is still that one.
pub struct ReadCache<V> {
    entries: Mutex<HashMap<Vec<u8>, (u64, V)>>,
    capacity: usize,
}

impl<V: Clone> ReadCache<V> {
    /// At most `capacity` entries; a full cache starts over.
    pub fn new(capacity: usize) -> ReadCache<V> {
        ReadCache {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The value kept for `key`, if it was read at `generation`.
    pub fn get(&self, key: &[u8], generation: u64) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some((g, value)) if *g == generation => Some(value.clone()),
            _ => None,
        }
    }

    /// Keeps `value`, read from rows after `generation` was taken.
    pub fn put(&self, key: Vec<u8>, generation: u64, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(key, (generation, value));
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
        assert_eq!(cache.get(b"a", 8), None, "something changed since");
        assert_eq!(cache.get(b"b", 7), None);
        cache.put(b"b".to_vec(), 7, "two");
        cache.put(b"c".to_vec(), 7, "three");
        assert_eq!(cache.get(b"c", 7), Some("three"), "full: started over");
        assert_eq!(cache.get(b"a", 7), None);
    }
}
