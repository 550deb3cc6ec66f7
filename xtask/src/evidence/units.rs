//! Which of a migration's all-or-nothing units can be in the database. A file with
//! `BEGIN ... COMMIT` blocks runs, under Prisma, as a series of transactions
//! (`statements::units`) that commit in order until one fails: after a failed deploy,
//! the first k units are in and the others are not, for one k. This finds every k the
//! catalogs allow, so that statements the analyser cannot check (data changes) can be
//! placed on the side of the line they belong to.
//!
//! "k units are in" is ruled out when the catalogs contradict it: a change that the
//! first k units leave in place is not there, or an object those units do not touch
//! is not in the state the file shows it was in before the migration (a table a later
//! unit creates without `IF NOT EXISTS` is already there). Both assume that nobody
//! changed these objects by hand after the failed deploy, as the transactional rule does.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::objects::{Object, Presence};
use super::replay::{self, Found};
use super::statements::Stmt;

/// Every number of units (0 to the number of units) that the catalogs allow to be in.
/// `units[i]` is the unit of `program[i]`; `before` is what the file reveals about the
/// state before it ran; `predating` objects are not used as evidence; `freed` relations
/// (created under a name the file frees first) are absent while another kind has the name.
pub(crate) fn possible(
    program: &[Stmt],
    units: &[usize],
    before: &HashMap<Object, Presence>,
    found: &HashMap<Object, Found>,
    predating: &HashSet<Object>,
    freed: &HashSet<Object>,
) -> BTreeSet<usize> {
    let state = |o: &Object| match found.get(o).copied().unwrap_or(Found::Absent) {
        // A property of a column that does not exist does not hold (as in `judge`).
        Found::Invalid if o.is_column_property() => Found::Absent,
        s => s,
    };
    let count = units.iter().max().map_or(0, |m| m + 1);
    (0..=count)
        .filter(|&k| {
            let end = units.iter().take_while(|&&u| u < k).count();
            let intent = replay::intended(&program[..end]);
            let prefix_holds = intent
                .expectations
                .iter()
                .filter(|e| !predating.contains(&e.object))
                .all(|e| replay::holds(&e.object, state(&e.object), e.applied_means, freed));
            // Objects the first k units change (or that own, or are owned by, something they
            // change) may differ from before; every other object the file reveals is as it was.
            let touched: HashSet<&Object> = intent.expectations.iter().map(|e| &e.object).collect();
            let related = |o: &Object| {
                touched.contains(o)
                    || touched.iter().any(|t| {
                        o.identity().is_some_and(|id| t.within(&id)) || t.identity().is_some_and(|id| o.within(&id))
                    })
            };
            let rest_as_before =
                before.iter().filter(|(o, _)| !predating.contains(*o) && !related(o)).all(|(o, p)| match p {
                    Presence::Absent => replay::holds(o, state(o), Presence::Absent, freed),
                    Presence::Present => state(o) != Found::Absent,
                });
            prefix_holds && rest_as_before
        })
        .collect()
}
