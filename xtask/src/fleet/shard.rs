//! Shards: a deterministic split of the plan for N processes that never talk to
//! each other (GitHub matrix legs, Kubernetes Indexed Job pods). Targets of one
//! server always share a shard, so `per_server` holds across shards; servers are
//! dealt out largest first to the least loaded shard.

use std::collections::BTreeMap;
use std::fmt;

/// `I/N`: shard I (from 0, as `strategy.job-index` and `JOB_COMPLETION_INDEX`) of N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shard {
    pub index: usize,
    pub total: usize,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.total)
    }
}

impl Shard {
    pub(crate) fn parse(text: &str) -> Result<Shard, String> {
        let usage = "--shard takes I/N: shard I of N, counted from 0 as GitHub's strategy.job-index and Kubernetes' JOB_COMPLETION_INDEX are (0/3, 1/3, 2/3)";
        let (i, n) = text.trim().split_once('/').ok_or_else(|| usage.to_string())?;
        let (Ok(index), Ok(total)) = (i.trim().parse::<usize>(), n.trim().parse::<usize>()) else {
            return Err(usage.into());
        };
        if total == 0 || index >= total {
            return Err(format!("--shard {text}: {usage}"));
        }
        Ok(Shard { index, total })
    }
}

/// The shard of each target (by position in `servers`), for `total` shards.
/// Depends only on the multiset of (id, server) pairs, not on the input order.
pub(crate) fn assign(ids: &[&str], servers: &[&str], total: usize) -> Vec<usize> {
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, s) in servers.iter().enumerate() {
        groups.entry(s).or_default().push(i);
    }
    let mut groups: Vec<(&str, Vec<usize>)> = groups.into_iter().collect();
    // Largest first; equal sizes by server name (BTreeMap order kept by a stable sort).
    groups.sort_by_key(|(_, members)| std::cmp::Reverse(members.len()));
    let mut load = vec![0usize; total.max(1)];
    let mut out = vec![0; ids.len()];
    for (_, members) in groups {
        let (least, _) = load.iter().enumerate().min_by_key(|&(i, l)| (*l, i)).unwrap_or((0, &0));
        load[least] += members.len();
        for m in members {
            out[m] = least;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_counts_from_zero() {
        assert_eq!(Shard::parse("0/3"), Ok(Shard { index: 0, total: 3 }));
        assert!(Shard::parse("3/3").unwrap_err().contains("counted from 0"));
        assert!(Shard::parse("1").is_err() && Shard::parse("a/b").is_err() && Shard::parse("0/0").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// Every target in exactly one shard; the same shards whatever the order of
        /// the inventory; one server's targets in one shard; no shard empty while
        /// another has two servers or more.
        #[test]
        fn shards_partition_stably_and_keep_servers_together(
            targets in prop::collection::btree_map("[a-z0-9]{1,8}", 0usize..12, 1..80),
            total in 1usize..9,
            seed in any::<u64>(),
        ) {
            let ids: Vec<String> = targets.keys().cloned().collect();
            let servers: Vec<String> = targets.values().map(|s| format!("db{s}:5432")).collect();
            let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            let server_refs: Vec<&str> = servers.iter().map(String::as_str).collect();
            let a = assign(&id_refs, &server_refs, total);
            prop_assert_eq!(a.len(), ids.len());
            prop_assert!(a.iter().all(|&s| s < total));

            // The inventory in another order gives every target the same shard.
            let mut order: Vec<usize> = (0..ids.len()).collect();
            let mut x = seed | 1;
            for i in (1..order.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                order.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let ids2: Vec<&str> = order.iter().map(|&i| id_refs[i]).collect();
            let servers2: Vec<&str> = order.iter().map(|&i| server_refs[i]).collect();
            let b = assign(&ids2, &servers2, total);
            for (k, &i) in order.iter().enumerate() {
                prop_assert_eq!(b[k], a[i], "target {} moved shards", ids[i]);
            }

            let mut shard_of_server: BTreeMap<&str, usize> = BTreeMap::new();
            for (i, s) in server_refs.iter().enumerate() {
                let first = *shard_of_server.entry(s).or_insert(a[i]);
                prop_assert_eq!(first, a[i], "server {} split over shards", s);
            }
            let servers_in = |k: usize| shard_of_server.values().filter(|&&v| v == k).count();
            let distinct = shard_of_server.len();
            if distinct >= total {
                for k in 0..total {
                    prop_assert!(servers_in(k) >= 1, "shard {} empty with {} servers for {} shards", k, distinct, total);
                }
            }
        }
    }
}
