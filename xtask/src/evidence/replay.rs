//! Plays a migration's statements over a model of the catalogs, two ways:
//!
//! - [`intended`]: from nothing known, what state the migration leaves each object
//!   in (the expectations), following renames and drops in order;
//! - [`rerun`]: from the state found in the database, whether running the migration
//!   again would get through every statement (an `IF NOT EXISTS` skips, a `DO` block's
//!   handler swallows its error, anything else that collides fails) and what it
//!   would leave behind.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::objects::{Object, Owner, Presence};
use super::statements::{Body, Change, Op, Stmt, DATA_CHANGES};
use super::Expectation;

/// What the catalogs hold for an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    Present,
    Absent,
    /// Something is there but not the thing expected: an index left INVALID by a
    /// failed `CREATE INDEX CONCURRENTLY`, a view where a table should be, a column
    /// property of a column that does not exist.
    Invalid,
}

/// Whether `found` is the state `p` of `o`. A relation the file drops to free its name
/// for another kind ([`freed`]) is also absent when that other kind has the name (the
/// catalogs say "invalid", which for one that should be there means "in the way").
pub(crate) fn holds(o: &Object, found: Found, p: Presence, freed: &HashSet<Object>) -> bool {
    found == Found::from(p) || (p == Presence::Absent && found == Found::Invalid && freed.contains(o))
}

impl From<Presence> for Found {
    fn from(p: Presence) -> Found {
        match p {
            Presence::Present => Found::Present,
            Presence::Absent => Found::Absent,
        }
    }
}

/// Every statement with changes, with `DO` blocks flattened (their handlers ignored:
/// this is the run that succeeds).
fn flat(stmts: &[Stmt]) -> Vec<(&Stmt, bool)> {
    let mut out = Vec::new();
    for s in stmts {
        match &s.body {
            Body::Block { statements, catches } => {
                for inner in statements {
                    out.push((inner, !catches.is_empty()));
                }
            }
            _ => out.push((s, false)),
        }
    }
    out
}

/// Whether a statement not understood changes rows only (`statements::DATA_CHANGES`),
/// or makes a temporary table: either way it creates or drops no object the migration names.
fn changes_only_rows(stmt: &Stmt) -> bool {
    match &stmt.body {
        Body::Unknown(why) if why == DATA_CHANGES => true,
        _ => {
            let mut words = stmt.text.split_whitespace().map(str::to_ascii_lowercase);
            words.next().as_deref() == Some("create") && matches!(words.next().as_deref(), Some("temp" | "temporary"))
        }
    }
}

/// What [`intended`] finds.
pub(crate) struct Intent {
    /// The state the migration leaves each object in, in the order the file first mentions them.
    pub expectations: Vec<Expectation>,
    /// Every object whose current state the verdict needs.
    pub lookups: Vec<Object>,
    /// Objects whose state before the migration the file itself reveals, and which the
    /// migration changes: finding them in their new state shows that it ran. (A table it
    /// creates was absent; one it drops and creates again under the same name was
    /// present before and after, and shows nothing.)
    pub informative: HashSet<Object>,
    /// The state before the migration of each object whose state the file reveals.
    pub before: HashMap<Object, Presence>,
}

/// Plays the migration from nothing known; see [`Intent`].
pub(crate) fn intended(stmts: &[Stmt]) -> Intent {
    let mut m = Intended::default();
    // After a statement not understood that may create or drop objects (a `SELECT ...
    // INTO`, a function call, a DO block with logic), what a later statement needs no
    // longer tells what was there before the migration: that statement may have made it.
    let mut tainted = false;
    for (stmt, in_handled_block) in flat(stmts) {
        if matches!(stmt.body, Body::Unknown(_)) && !changes_only_rows(stmt) {
            tainted = true;
        }
        let changes = match &stmt.body {
            Body::Changes(c) | Body::Replace(_, c) => c,
            _ => continue,
        };
        for c in changes {
            for (o, _) in &c.skip_if {
                m.observe(o, None);
            }
            for o in &c.needs {
                m.observe(o, Some(Presence::Present));
            }
            let guarded = !c.skip_if.is_empty() || in_handled_block;
            // What the statement needs to succeed tells what was there before it (unless guarded).
            let known = |p: Presence| if guarded || tainted { None } else { Some(p) };
            let prov = |p: Presence, g: bool| (p, stmt.text.clone(), stmt.line, g);
            match &c.op {
                Op::Create { object, children, .. } => {
                    // Created again after the file dropped what it belongs to (a function
                    // dropped by name, then created with its arguments): it may have
                    // existed before.
                    let after_drop =
                        m.dropped.iter().any(|d| d != object && d.identity().is_some_and(|id| object.within(&id)));
                    m.observe(object, if after_drop { None } else { known(Presence::Absent) });
                    m.set(object, prov(Presence::Present, guarded));
                    // What it owns was absent before exactly when it was (see `observe`).
                    // A constraint or index dropped and added again under its name in one
                    // file is added with another definition: the new one was not there.
                    let redefined = m.dropped.contains(object);
                    for (ch, p) in children {
                        let def = matches!(ch, Object::ConstraintDef { .. } | Object::IndexDef { .. });
                        m.observe(ch, (def && redefined && !guarded).then_some(Presence::Absent));
                        m.set(ch, prov(*p, guarded));
                    }
                }
                Op::Drop { object } => {
                    m.dropped.insert(object.clone());
                    m.observe(object, known(Presence::Present));
                    m.set(object, prov(Presence::Absent, guarded));
                }
                Op::Rename { from, to } => {
                    m.observe(from, known(Presence::Present));
                    m.observe(to, known(Presence::Absent));
                    if let (Some(f), Some(t)) = (from.identity(), to.identity()) {
                        m.reparent(&f, &t);
                        m.renames.push((f, t));
                    }
                    m.set(from, prov(Presence::Absent, guarded));
                    m.set(to, prov(Presence::Present, guarded));
                }
                Op::Set { object, presence, once } => {
                    // A conversion (`TYPE ... USING`) is written for a column that does not
                    // have the type yet; finding the type shows that it ran.
                    m.observe(
                        object,
                        once.then_some(if *presence == Presence::Present {
                            Presence::Absent
                        } else {
                            Presence::Present
                        }),
                    );
                    m.set(object, prov(*presence, !once));
                }
                Op::Rekey { from, to } => {
                    m.observe(from, None);
                    m.observe(to, None);
                    m.forget(from);
                    m.set(to, prov(Presence::Present, guarded));
                }
            }
        }
    }
    let informative = m
        .entries
        .iter()
        .filter(|(o, (p, ..))| {
            let before = if *p == Presence::Present { Presence::Absent } else { Presence::Present };
            m.pre.get(o) == Some(&Some(before))
        })
        .map(|(o, _)| o.clone())
        .collect();
    let expectations = m
        .entries
        .into_iter()
        .map(|(object, (applied_means, statement, line, guarded))| Expectation {
            object,
            applied_means,
            statement,
            line,
            guarded,
        })
        .collect();
    let before = m.pre.into_iter().filter_map(|(o, p)| p.map(|p| (o, p))).collect();
    Intent { expectations, lookups: m.mentioned.into_iter().collect(), informative, before }
}

/// Relations the file creates under a name it first frees by dropping or renaming away
/// a relation of another kind (`DROP VIEW v; CREATE TABLE v`), and those it drops: the
/// one created, found "in the way" by the catalogs, is only not there yet ([`rerun`]
/// tells whether the drop clears the name); the one dropped is gone once the other has
/// its name.
pub(crate) fn freed(stmts: &[Stmt]) -> HashSet<Object> {
    let mut dropped: Vec<Object> = Vec::new();
    let mut out = HashSet::new();
    for (stmt, _) in flat(stmts) {
        let changes = match &stmt.body {
            Body::Changes(c) | Body::Replace(_, c) => c,
            _ => continue,
        };
        for c in changes {
            match &c.op {
                Op::Drop { object } | Op::Rename { from: object, .. } if object.relation_name().is_some() => {
                    dropped.push(object.clone())
                }
                Op::Create { object, .. } | Op::Set { object, .. } | Op::Rename { to: object, .. } => {
                    let rel = object.relation_name();
                    let other: Vec<Object> =
                        dropped.iter().filter(|d| *d != object && d.relation_name() == rel).cloned().collect();
                    if rel.is_some() && !other.is_empty() {
                        out.insert(object.clone());
                        out.extend(other);
                    }
                }
                _ => {}
            }
        }
    }
    out
}

type Prov = (Presence, String, usize, bool);

#[derive(Default)]
struct Intended {
    /// In first-mention order.
    entries: Vec<(Object, Prov)>,
    mentioned: BTreeSet<Object>,
    /// The state before the migration, where the file reveals it; recorded at the first mention.
    pre: HashMap<Object, Option<Presence>>,
    /// What the file drops, so far.
    dropped: HashSet<Object>,
    /// Owners the file renamed so far (from, to), in order.
    renames: Vec<(Owner, Owner)>,
}

impl Intended {
    /// Records what the file says about `o` before the migration, if this is its
    /// first mention. Whatever a new object owns did not exist either.
    fn observe(&mut self, o: &Object, before: Option<Presence>) {
        self.mention(o);
        if self.pre.contains_key(o) {
            return;
        }
        // An enum and the type of the same name are one thing: the first mention of either counts.
        if let Some(id) = o.identity() {
            let alias = self.pre.iter().find(|(k, _)| k.identity().as_ref() == Some(&id)).map(|(_, v)| *v);
            if let Some(before) = alias {
                self.pre.insert(o.clone(), before);
                return;
            }
        }
        let owner_was_absent = || {
            self.pre
                .iter()
                .any(|(k, v)| *v == Some(Presence::Absent) && k.identity().is_some_and(|id| k != o && o.within(&id)))
        };
        let before = before.or_else(|| owner_was_absent().then_some(Presence::Absent));
        self.pre.insert(o.clone(), before);
    }

    /// Something the verdict needs to look up; named under an owner the file renamed
    /// earlier, it is also looked up under the name it had before (a re-run starts there).
    fn mention(&mut self, o: &Object) {
        self.mentioned.insert(o.clone());
        let mut cur = o.clone();
        for (from, to) in self.renames.iter().rev() {
            if let Some(before) = cur.reparent(to, from) {
                self.mentioned.insert(before.clone());
                cur = before;
            }
        }
    }

    fn forget(&mut self, o: &Object) {
        self.entries.retain(|(k, _)| k != o);
    }

    fn set(&mut self, o: &Object, prov: Prov) {
        self.mention(o);
        let presence = prov.0;
        if presence == Presence::Present {
            if let Some(group) = o.exclusive_group() {
                self.entries.retain(|(k, _)| k == o || k.exclusive_group().as_ref() != Some(&group));
            }
            for implied in o.implied() {
                if self.entries.iter().any(|(k, _)| *k == implied) {
                    self.set(&implied, prov.clone());
                }
            }
        } else if let Some(id) = o.identity() {
            // What it owned goes with it; the owner's own absence says enough.
            self.entries.retain(|(k, _)| k == o || !k.within(&id));
        }
        match self.entries.iter_mut().find(|(k, _)| k == o) {
            Some(e) => e.1 = prov,
            None => self.entries.push((o.clone(), prov)),
        }
    }

    fn reparent(&mut self, from: &Owner, to: &Owner) {
        let moved: Vec<(Object, Prov)> =
            self.entries.iter().filter_map(|(k, p)| k.reparent(from, to).map(|n| (n, p.clone()))).collect();
        self.entries.retain(|(k, _)| !k.within(from));
        for (n, p) in moved {
            self.observe(&n, None);
            self.entries.retain(|(k, _)| *k != n);
            self.entries.push((n, p));
        }
    }
}

/// Why a re-run would stop.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Blocker {
    pub line: usize,
    pub statement: String,
    pub why: String,
}

/// What a re-run would do.
pub(crate) struct Rerun {
    /// The state it would leave.
    pub end: HashMap<Object, Found>,
    /// The first statement that would change anything (line, text); `None` when every
    /// statement would be skipped by its guard or find its change already made.
    pub first_change: Option<(usize, String)>,
}

/// Replays the migration from `found`; what it would do, or the first statement that
/// would fail. Creating a `predating` object that exists is skipped, as the fixed file will.
pub(crate) fn rerun(
    stmts: &[Stmt],
    found: &HashMap<Object, Found>,
    predating: &HashSet<Object>,
) -> Result<Rerun, Blocker> {
    let mut state = found.clone();
    let mut first_change = None;
    for s in stmts {
        match &s.body {
            Body::Changes(changes) | Body::Replace(_, changes) => {
                let changed = apply(&mut state, changes, predating).map_err(|(_, why)| Blocker {
                    line: s.line,
                    statement: s.text.clone(),
                    why,
                })?;
                if changed && first_change.is_none() {
                    first_change = Some((s.line, s.text.clone()));
                }
            }
            Body::Block { statements, catches } => {
                let before = state.clone();
                let mut block_change = None;
                for inner in statements {
                    let Body::Changes(changes) = &inner.body else {
                        continue;
                    };
                    match apply(&mut state, changes, predating) {
                        Ok(true) if block_change.is_none() => block_change = Some((inner.line, inner.text.clone())),
                        Ok(_) => {}
                        Err((code, why)) => {
                            let caught = catches.iter().any(|c| {
                                c == "others" || c == code || (c.ends_with("000") && c.get(..2) == code.get(..2))
                            });
                            if !caught {
                                return Err(Blocker { line: inner.line, statement: inner.text.clone(), why });
                            }
                            // The handler rolls the whole block back.
                            state = before;
                            block_change = None;
                            break;
                        }
                    }
                }
                if first_change.is_none() {
                    first_change = block_change;
                }
            }
            Body::Ignored | Body::Unknown(_) => {}
        }
    }
    Ok(Rerun { end: state, first_change })
}

fn get(state: &HashMap<Object, Found>, o: &Object) -> Found {
    state.get(o).copied().unwrap_or(Found::Absent)
}

/// Applies one statement's changes: whether it changed anything, or the SQLSTATE and
/// message of the error it would raise.
fn apply(
    state: &mut HashMap<Object, Found>,
    changes: &[Change],
    predating: &HashSet<Object>,
) -> Result<bool, (&'static str, String)> {
    let mut changed = false;
    // Guards are judged as the statement starts (an ADD VALUE IF NOT EXISTS also
    // skips its own follow-up change to the value list).
    let skipped: Vec<bool> = changes
        .iter()
        .map(|c| {
            c.skip_if.iter().any(|(o, p)| get(state, o) == Found::from(*p))
                || matches!(&c.op, Op::Create { object, .. } if predating.contains(object) && get(state, object) != Found::Absent)
        })
        .collect();
    for (c, skip) in changes.iter().zip(skipped) {
        if skip {
            continue;
        }
        if let Some(o) = c.needs.iter().find(|o| get(state, o) != Found::Present) {
            return Err((o.missing_error(), format!("{o} does not exist")));
        }
        // `CREATE OR REPLACE VIEW` where a table of that name is: "is not a view".
        if let Op::Set { object, .. } = &c.op {
            if !object.is_column_property() && get(state, object) == Found::Invalid {
                return Err((object.exists_error(), format!("{object} is in the way: something else has its name")));
            }
        }
        if let Op::Set { object, presence, once: true } = &c.op {
            if get(state, object) == Found::from(*presence) {
                return Err((
                    "once",
                    format!("{} already: running it again would convert the data again", object.describe(*presence)),
                ));
            }
        }
        changed |= match &c.op {
            Op::Set { object, presence, .. } => get(state, object) != Found::from(*presence),
            Op::Rekey { .. } => false,
            _ => true,
        };
        match &c.op {
            Op::Create { object, children, error } => {
                if let (Object::Unnamed { .. }, Found::Present | Found::Invalid) = (object, get(state, object)) {
                    // The server names the new one otherwise: no error, but a second copy.
                    return Err((error, format!("{object} is already there: running it again would add a second one")));
                }
                if get(state, object) != Found::Absent {
                    return Err((error, format!("{object} already exists")));
                }
                set(state, object, Found::Present);
                for (ch, p) in children {
                    set(state, ch, Found::from(*p));
                }
            }
            Op::Drop { object } => {
                if get(state, object) != Found::Present {
                    return Err((object.missing_error(), format!("{object} does not exist")));
                }
                set(state, object, Found::Absent);
            }
            Op::Rename { from, to } => {
                if get(state, from) != Found::Present {
                    return Err((from.missing_error(), format!("{from} does not exist")));
                }
                if get(state, to) != Found::Absent {
                    return Err((to.exists_error(), format!("{to} already exists")));
                }
                if let (Some(f), Some(t)) = (from.identity(), to.identity()) {
                    let moved: Vec<(Object, Found)> =
                        state.iter().filter_map(|(k, v)| k.reparent(&f, &t).map(|n| (n, *v))).collect();
                    for v in state.iter_mut().filter(|(k, _)| k.within(&f)).map(|(_, v)| v) {
                        *v = Found::Absent;
                    }
                    state.extend(moved);
                }
                set(state, from, Found::Absent);
                set(state, to, Found::Present);
            }
            Op::Set { object, presence, .. } => set(state, object, Found::from(*presence)),
            Op::Rekey { from, to } => {
                let v = get(state, from);
                state.insert(from.clone(), Found::Absent);
                state.insert(to.clone(), v);
            }
        }
    }
    Ok(changed)
}

fn set(state: &mut HashMap<Object, Found>, o: &Object, v: Found) {
    // Relations share one name space: once one is there, another kind of relation of
    // that name is in the way; once it is gone, nothing is.
    if let Some(rel) = o.relation_name() {
        for (k, val) in state.iter_mut() {
            if k != o && k.relation_name() == Some(rel) {
                match (v, *val) {
                    (Found::Present, Found::Absent) => *val = Found::Invalid,
                    (Found::Absent, Found::Invalid) => *val = Found::Absent,
                    _ => {}
                }
            }
        }
    }
    if v == Found::Present {
        if let Some(group) = o.exclusive_group() {
            for (k, val) in state.iter_mut() {
                if k != o && k.exclusive_group().as_ref() == Some(&group) {
                    *val = Found::Absent;
                }
            }
        }
        for implied in o.implied() {
            state.insert(implied, Found::Present);
        }
        // A new column's properties are now real (they were "invalid": no such column).
        if let Some(id) = o.identity() {
            for (k, val) in state.iter_mut() {
                if k != o && k.within(&id) && *val == Found::Invalid {
                    *val = Found::Absent;
                }
            }
        }
    } else if let Some(id) = o.identity() {
        for (k, val) in state.iter_mut() {
            if k.within(&id) {
                *val = Found::Absent;
            }
        }
    }
    state.insert(o.clone(), v);
}
