//! The routes by id: a vector kept in id order, with removed entries left
//! as holes until they outnumber the live ones. Ids only grow (`Router::add`
//! hands out the next one), so an insert is a push, a look-up a binary
//! search, and a removal amortised O(1). It replaces a `BTreeMap`, whose
//! node code (insert, remove, rebalance) was about 4 KiB of the binary for
//! this one map; iteration stays in id order.

pub struct RouteMap<V> {
    /// Ascending ids; `None` where a route was removed.
    slots: Vec<(u64, Option<V>)>,
    live: usize,
}

impl<V> RouteMap<V> {
    pub fn new() -> RouteMap<V> {
        RouteMap {
            slots: Vec::new(),
            live: 0,
        }
    }

    fn index(&self, id: u64) -> Option<usize> {
        self.slots.binary_search_by_key(&id, |s| s.0).ok()
    }

    pub fn get(&self, id: &u64) -> Option<&V> {
        self.slots[self.index(*id)?].1.as_ref()
    }

    pub fn get_mut(&mut self, id: &u64) -> Option<&mut V> {
        let i = self.index(*id)?;
        self.slots[i].1.as_mut()
    }

    /// Adds `v` as `id`, which is above every id given before.
    pub fn insert(&mut self, id: u64, v: V) {
        debug_assert!(self.slots.last().is_none_or(|s| s.0 < id));
        self.slots.push((id, Some(v)));
        self.live += 1;
    }

    pub fn remove(&mut self, id: &u64) -> Option<V> {
        let i = self.index(*id)?;
        let gone = self.slots[i].1.take()?;
        self.live -= 1;
        // Holes are squeezed out once they are the majority, so each costs
        // O(1) amortised and the vector stays within twice the live routes.
        if self.slots.len() > 2 * self.live + 8 {
            self.slots.retain(|s| s.1.is_some());
        }
        Some(gone)
    }

    pub fn len(&self) -> usize {
        self.live
    }

    /// The live routes, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (&u64, &V)> {
        self.slots
            .iter()
            .filter_map(|(id, v)| v.as_ref().map(|v| (id, v)))
    }

    pub fn keys(&self) -> impl Iterator<Item = &u64> {
        self.iter().map(|(id, _)| id)
    }

    #[cfg_attr(not(feature = "tunnel"), allow(dead_code))]
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::RouteMap;

    #[test]
    fn removals_keep_the_id_order_and_the_look_ups() {
        let mut m = RouteMap::new();
        for id in 1..=100u64 {
            m.insert(id, id * 10);
        }
        for id in (2..=100u64).step_by(2) {
            assert_eq!(m.remove(&id), Some(id * 10));
        }
        assert_eq!(m.remove(&2), None);
        assert_eq!(m.len(), 50);
        assert!(m.slots.len() <= 2 * 50 + 8);
        assert_eq!(m.get(&51), Some(&510));
        assert_eq!(m.get(&52), None);
        *m.get_mut(&99).unwrap() = 1;
        let ids: Vec<u64> = m.keys().copied().collect();
        assert_eq!(ids, (1..=100).step_by(2).collect::<Vec<u64>>());
        m.insert(101, 0);
        assert_eq!(m.iter().last(), Some((&101, &0)));
    }
}
