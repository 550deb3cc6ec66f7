//! Plays a migration's statements over a model of the catalogs, two ways:
//!
//! - [`intended`]: from nothing known, what state the migration leaves each object
//!   in (the expectations), following renames and drops in order;
//! - [`rerun`]: from the state found in the database, whether running the migration
//!   again would get through every statement (an `IF NOT EXISTS` skips, a `DO` block's
//!   handler swallows its error, anything else that collides fails) and what it
//!   would leave behind.

use std::collections::{BTreeSet, HashMap};

use super::objects::{Object, Owner, Presence};
use super::statements::{Body, Change, Op, Stmt};
use super::Expectation;

/// What the catalogs hold for an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    Present,
    Absent,
    /// Something is there but not the thing expected: an index left INVALID by a
    /// failed `CREATE INDEX CONCURRENTLY`, a view where a table should be, a column
    /// property of a column that does not exist.
    Invalid,
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

/// The state the migration leaves each object in, in the order the file first
/// mentions them, and every object whose current state the verdict needs.
pub(crate) fn intended(stmts: &[Stmt]) -> (Vec<Expectation>, Vec<Object>) {
    let mut m = Intended::default();
    for (stmt, in_handled_block) in flat(stmts) {
        let Body::Changes(changes) = &stmt.body else { continue };
        for c in changes {
            for o in c.skip_if.iter().map(|(o, _)| o).chain(&c.needs) {
                m.mention(o);
            }
            let guarded = !c.skip_if.is_empty() || in_handled_block;
            let prov = |p: Presence, g: bool| (p, stmt.text.clone(), stmt.line, g);
            match &c.op {
                Op::Create { object, children, .. } => {
                    m.set(object, prov(Presence::Present, guarded));
                    for ch in children {
                        m.set(ch, prov(Presence::Present, guarded));
                    }
                }
                Op::Drop { object } => m.set(object, prov(Presence::Absent, guarded)),
                Op::Rename { from, to } => {
                    if let (Some(f), Some(t)) = (from.identity(), to.identity()) {
                        m.reparent(&f, &t);
                    }
                    m.set(from, prov(Presence::Absent, guarded));
                    m.set(to, prov(Presence::Present, guarded));
                }
                Op::Set { object, presence } => m.set(object, prov(*presence, true)),
                Op::Rekey { from, to } => {
                    m.mention(from);
                    m.forget(from);
                    m.set(to, prov(Presence::Present, guarded));
                }
            }
        }
    }
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
    (expectations, m.mentioned.into_iter().collect())
}

type Prov = (Presence, String, usize, bool);

#[derive(Default)]
struct Intended {
    /// In first-mention order.
    entries: Vec<(Object, Prov)>,
    mentioned: BTreeSet<Object>,
}

impl Intended {
    fn mention(&mut self, o: &Object) {
        self.mentioned.insert(o.clone());
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
            if let Some(implied) = o.implied() {
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
            self.mention(&n);
            self.entries.retain(|(k, _)| *k != n);
            self.entries.push((n, p));
        }
    }
}

/// Why a re-run would stop.
#[derive(Debug, Clone, PartialEq)]
pub struct Blocker {
    pub line: usize,
    pub statement: String,
    pub why: String,
}

/// Replays the migration from `found`; the state it would leave, or the first
/// statement that would fail.
pub(crate) fn rerun(stmts: &[Stmt], found: &HashMap<Object, Found>) -> Result<HashMap<Object, Found>, Blocker> {
    let mut state = found.clone();
    for s in stmts {
        match &s.body {
            Body::Changes(changes) => {
                apply(&mut state, changes).map_err(|(_, why)| Blocker {
                    line: s.line,
                    statement: s.text.clone(),
                    why,
                })?;
            }
            Body::Block { statements, catches } => {
                let before = state.clone();
                for inner in statements {
                    let Body::Changes(changes) = &inner.body else { continue };
                    if let Err((code, why)) = apply(&mut state, changes) {
                        let caught = catches
                            .iter()
                            .any(|c| c == "others" || c == code || (c.ends_with("000") && c.get(..2) == code.get(..2)));
                        if !caught {
                            return Err(Blocker { line: inner.line, statement: inner.text.clone(), why });
                        }
                        // The handler rolls the whole block back.
                        state = before;
                        break;
                    }
                }
            }
            Body::Ignored | Body::Unknown(_) => {}
        }
    }
    Ok(state)
}

fn get(state: &HashMap<Object, Found>, o: &Object) -> Found {
    state.get(o).copied().unwrap_or(Found::Absent)
}

/// Applies one statement's changes; the SQLSTATE and message of the error it would raise.
fn apply(state: &mut HashMap<Object, Found>, changes: &[Change]) -> Result<(), (&'static str, String)> {
    // Guards are judged as the statement starts (an ADD VALUE IF NOT EXISTS also
    // skips its own follow-up change to the value list).
    let skipped: Vec<bool> =
        changes.iter().map(|c| c.skip_if.iter().any(|(o, p)| get(state, o) == Found::from(*p))).collect();
    for (c, skip) in changes.iter().zip(skipped) {
        if skip {
            continue;
        }
        if let Some(o) = c.needs.iter().find(|o| get(state, o) != Found::Present) {
            return Err((o.missing_error(), format!("{o} does not exist")));
        }
        match &c.op {
            Op::Create { object, children, error } => {
                if get(state, object) != Found::Absent {
                    return Err((error, format!("{object} already exists")));
                }
                set(state, object, Found::Present);
                for ch in children {
                    set(state, ch, Found::Present);
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
            Op::Set { object, presence } => set(state, object, Found::from(*presence)),
            Op::Rekey { from, to } => {
                let v = get(state, from);
                state.insert(from.clone(), Found::Absent);
                state.insert(to.clone(), v);
            }
        }
    }
    Ok(())
}

fn set(state: &mut HashMap<Object, Found>, o: &Object, v: Found) {
    if v == Found::Present {
        if let Some(group) = o.exclusive_group() {
            for (k, val) in state.iter_mut() {
                if k != o && k.exclusive_group().as_ref() == Some(&group) {
                    *val = Found::Absent;
                }
            }
        }
        if let Some(implied) = o.implied() {
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
