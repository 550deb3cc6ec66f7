//! Evidence: did a failed migration apply? Reads its `migration.sql`, works out what
//! it creates, drops and changes, looks those objects up in the catalogs in one
//! query, and gives a verdict that says which `prisma migrate resolve` is safe.
//!
//! # Verdicts
//!
//! - **applied**: every change the migration makes is in the database: every table,
//!   column, enum (with exactly its values), enum value, index, constraint, sequence,
//!   extension and schema it creates exists, everything it drops or renames away is
//!   gone, and every column property it sets (`NOT NULL`, default, type) holds, and at
//!   least one of those changes shows that it ran (see "same names" below). This is the
//!   runbook's timeout case; `resolve --applied` is right.
//! - **not applied**: running the migration again from the database as it is would
//!   get through every statement and end with all of its changes in place. In a
//!   migration without guards that means none of its changes are there. Objects that
//!   the migration itself tolerates finding (`CREATE TABLE IF NOT EXISTS`,
//!   `ADD VALUE IF NOT EXISTS`, `DROP ... IF EXISTS`, a `DO` block whose
//!   `EXCEPTION WHEN duplicate_object` handler swallows the collision, and column
//!   properties, which can be set twice) may already be there: they may predate the
//!   migration, and a re-run skips them. `resolve --rolled-back` and a new deploy are
//!   safe.
//! - **partial**: anything else: some changes are there and others are not in a way a
//!   re-run would trip over (an object without a guard already exists), or would not
//!   repair (a table created `IF NOT EXISTS` is there but lacks a column the
//!   migration gives it), or an index is left INVALID by a failed
//!   `CREATE INDEX CONCURRENTLY`. Neither resolve is safe: repair the database by hand
//!   first. The report lists what is and is not there and the first statement a
//!   re-run would fail on. (If the migration never ran and only objects that predate
//!   it collide, the migration itself needs fixing; the report says so too.)
//! - **unknown**: the file contains a statement the analyser does not understand or
//!   cannot check in the catalogs (data changes such as `INSERT`/`UPDATE`,
//!   procedures, rules, a `CREATE FUNCTION` whose body or attributes it cannot read,
//!   `ALTER VIEW` other than a rename, `SET search_path` to more than one schema, a `DO`
//!   block with logic in it, ...) and the transactional rule (below) does not decide, or nothing
//!   checkable at all, or the database would look the same whether it ran or not
//!   (below). Unknown is never safe: decide by hand. The report still lists what it
//!   could check.
//!
//! **The transactional rule.** Prisma's schema engine sends a migration file as one
//! query, which the server runs as one implicit transaction unless the file controls
//! transactions itself or has a statement that cannot run in one (`statements::units`).
//! In such a file, what the analyser cannot check ran exactly when its checkable
//! changes did: all of those in place (one of them showing it ran) is *applied*, not all
//! in place is whatever the checkable changes say (*not applied* when a re-run gets
//! through). One `BEGIN ... COMMIT` around the whole file changes nothing. A file with
//! `BEGIN ... COMMIT` blocks and statements after them (Prisma's enum rewrite) runs as
//! several transactions that commit in order until one fails: `units.rs` finds which
//! of them the catalogs allow to be in, and a statement not understood follows the
//! transaction it is in when that is decided (one that committed while the rest did not
//! makes the verdict *partial*: a re-run would repeat it). `CREATE OR REPLACE` is
//! repeated safely by a re-run, so it never stands in the way of *not applied*. What of
//! it is checked: a function's definition (see "Definitions"); a trigger's presence
//! only, and a view's presence and, where it can be told apart, its query (which can
//! show that it did not run, never that it did: the view may have had that query
//! before), so neither shows *applied* outside one transaction; the same for a view or trigger the file drops and
//! creates again, or a view created after a `DROP ... CASCADE` (`Body::Replace` lists
//! them as "not checked"); of a function with attributes the analyser does not compare,
//! only its presence with its argument types (which, like a view's query, can show that
//! it did not run, never that it did); nothing of a procedure or a rule. A file of nothing but such statements (and
//! `DROP VIEW|FUNCTION|TRIGGER IF EXISTS`) is *not applied* whenever a re-run gets
//! through; so is one whose checkable changes are all in place without one showing it
//! ran, when a re-run would change none of them and only set again what it replaces.
//! The evidence says when these rules decided.
//!
//! **Half a file run by hand.** The rule holds for what Prisma ran, not for part of a
//! file pasted into psql. A *partial* state of a one-transaction file (a change that
//! shows it ran in place, another not) says "partial (run by hand?)" and names the first
//! statement not done ([`Evidence::run_by_hand`]). Where the rule says *applied*, the
//! rows its constant-row inserts give are looked up by their keys (`keyed.rs`) and its
//! `UPDATE`, `DELETE` and `INSERT ... SELECT` are checked against the rows (`rows.rs`):
//! one that would still change rows makes it "partial (run by hand?)"; what no check
//! covers is listed in [`Evidence::relies_on_rule`] and the summary says it relies on the
//! rule.
//!
//! Guarded objects ("may predate the migration") count toward *applied* like any
//! other, but cannot prove it on their own: a migration whose only present objects
//! are guarded is *not applied* unless every one of its changes is present. When all
//! of them are present, re-running it would change nothing, so *applied* is safe.
//!
//! **Same names.** The catalogs are checked by name. A migration that drops and
//! re-creates something under the same name (Prisma's primary-key change
//! `DROP CONSTRAINT "t_pkey", ADD CONSTRAINT "t_pkey" PRIMARY KEY (a, b)`, or its enum
//! rewrite `"Role"` → `"Role_old"`, `"Role_new"` → `"Role"`) leaves names that existed
//! before. A change proves the migration ran only if the file shows it was not in place
//! before (what it creates without a guard did not exist; what it drops did). When
//! every change is in place but none proves anything and re-running would still change
//! the database, the verdict is *unknown*, not *applied*.
//!
//! **Definitions.** Besides names, the catalogs are compared on definitions: a column's
//! type, nullability and default value, a constraint's and an index's definition, an
//! enum's value list (see `definition.rs` for how the server's spelling and the file's
//! are made comparable), and a function's input argument types, body (`prosrc`, kept
//! verbatim by the server), language, return type, volatility, `SECURITY DEFINER` and
//! `STRICT`: a `CREATE OR REPLACE FUNCTION` whose old body is found has not run. A
//! function created without `OR REPLACE` fails when one with its argument types exists,
//! so finding it shows that the file ran; `DROP FUNCTION f` without arguments expects
//! exactly one function `f` (two or more are "in the way": the drop fails on them). A
//! view is compared by presence and kind (a table where a view should be, or the
//! reverse, is "in the way"), and one the file re-creates under its name
//! (`CREATE OR REPLACE VIEW`, or a `DROP VIEW` then `CREATE VIEW`) also by its query:
//! `pg_get_viewdef` and the file's query in one spelling (`definition::view_query`). A
//! live query that is certainly another one (one side references a name the other
//! does not) shows that the statement has not run; the file's query found shows
//! nothing on its own (the view may have had that query before), and spellings that
//! differ otherwise are not counted, as before the comparison. The server stores a `*`
//! as the columns it stood for when the view was made, so a view made again with `*`
//! over a table the file added columns to must name them (`routines::star_tables`,
//! `Cx::added`): a live query without them was made before them. A replaced function is
//! also compared on its argument defaults (`pg_get_function_arg_default`): one on one
//! side only is another function, two that read otherwise are not counted (as a view's
//! query); one with what the analyser does not compare is looked up by its argument
//! types alone, whose absence shows that it has not run. A constraint or index dropped and added again in one file gets
//! another definition, so its new definition shows that the file ran.
//! `ALTER COLUMN ... TYPE ... USING` converts the stored data, so it must not run twice:
//! a column that already has the target type counts as applied.
//!
//! **The trial run** (`trial.rs`). A file of data statements only (`INSERT`, `UPDATE`,
//! `DELETE`, `MERGE`, a `WITH` that changes data, beside `SET`, `LOCK`, `COMMENT ON`,
//! `ANALYZE`) has nothing the catalogs can show. When such a file runs as one
//! transaction and mentions no function whose effect a rollback does not undo
//! (`setval`, `dblink`, ...), `assess` runs it on the database in a transaction that is
//! always rolled back, with short lock and statement timeouts, and counts the rows it
//! changed: none means running it again changes nothing whether or not it ran, so it is
//! *not applied* (marking it rolled back and deploying it again is safe); some rows, or
//! an error, leave it *unknown* with that reason. The evidence always says that a trial
//! ran and what it found. Sequence values its `INSERT`s consume stay consumed (a gap).
//! On production it runs only when every table it can touch is small by the catalogs'
//! estimate (`trial_max_rows`, 10,000 rows unless configured); otherwise the verdict
//! stays *unknown* and says the trial was skipped and why ([`Trial`]).
//!
//! Statements with no lasting effect on the schema are ignored: `BEGIN`, `COMMIT`,
//! `SET` (except `search_path`), `LOCK`, `ANALYZE`, `VACUUM`, and `COMMENT ON`
//! (a comment cannot make a migration unsafe to resolve either way).
//!
//! # Names
//!
//! Unqualified names belong to the schema of the connection (Prisma's `?schema=`,
//! default `public`), or to the one schema a `SET search_path` in the file names.
//! Unquoted identifiers fold to lower case, quoted ones are exact, and both are cut to
//! 63 bytes as the server does. An unnamed `PRIMARY KEY` is `<table>_pkey`; other
//! unnamed constraints of a `CREATE TABLE` are not looked up (they exist exactly when
//! their table does). One added by `ALTER TABLE ... ADD FOREIGN KEY|UNIQUE|CHECK (...)`
//! without a name (old Prisma's foreign keys) is looked up by what it is: among the
//! table's constraints, the ones whose `pg_get_constraintdef` reads as its definition
//! (columns in order, referenced table and columns, `ON DELETE`/`ON UPDATE` with
//! `NO ACTION` as the default). One is "there", none "not there"; two or more leave
//! the statement undecided (the verdict says so), since the statement does not fail
//! on a copy but adds another, which is also why one copy found is in the way of a
//! re-run. Like `ADD CONSTRAINT name` without a guard, the file was written for a
//! table without that constraint, so the one found shows that it ran. A
//! `CREATE INDEX` without a name, or `ADD EXCLUDE` and `ADD ... USING INDEX` without
//! one, is unknown.

mod catalog;
mod definition;
mod keyed;
pub mod lexer;
mod objects;
mod replay;
mod rows;
mod statements;
mod units;
mod trial;

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::Serialize;

pub(crate) use keyed::Keys;
pub use objects::{Object, Presence};
pub(crate) use replay::Found;
pub(crate) use rows::Rows;
pub use trial::{Bounds as TrialBounds, Outcome as TrialOutcome};

use crate::db::Target;
use crate::exit::Failure;

/// A change the migration makes, as a state of one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expectation {
    #[serde(serialize_with = "display")]
    pub object: Object,
    /// `Present` for what it creates or sets, `Absent` for what it drops or renames away.
    pub applied_means: Presence,
    /// The statement that decides this state, on one line, shortened.
    pub statement: String,
    /// Its line in `migration.sql`.
    pub line: usize,
    /// The migration tolerates this state existing before it ran (`IF [NOT] EXISTS`,
    /// an exception handler, a property that can be set twice): finding it proves
    /// little on its own.
    pub guarded: bool,
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (line {}", self.object.describe(self.applied_means), self.line)?;
        if self.guarded {
            f.write_str(", may predate the migration")?;
        }
        f.write_str(")")
    }
}

impl Expectation {
    /// The opposite state, as the database holds it when this change is not done, with
    /// the line of the change: `column "t"."c" does not exist (line 3)`.
    pub fn now(&self) -> String {
        let other = match self.applied_means {
            Presence::Present => Presence::Absent,
            Presence::Absent => Presence::Present,
        };
        format!("{} (line {})", self.object.describe(other), self.line)
    }
}

fn display<T: fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// What a migration file does, without looking at a database.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The state each object is in once the migration has applied, in file order.
    pub expectations: Vec<Expectation>,
    /// Statements not understood: `line N: STATEMENT (why)`, one line each.
    pub unknown: Vec<String>,
    /// `CREATE OR REPLACE` statements, whose definitions are not checked but which a
    /// re-run repeats safely: `line N: STATEMENT (why)`.
    pub replaced: Vec<String>,
    program: Vec<statements::Stmt>,
    /// Every object whose current state the verdict needs.
    lookups: Vec<Object>,
    /// Expectations whose new state shows that the migration ran (see [`replay::Intent`]).
    informative: HashSet<Object>,
    /// Relations created under a name the file frees first (see [`replay::freed`]).
    freed: HashSet<Object>,
    /// Every statement is `CREATE OR REPLACE`, a view or trigger created again after the
    /// file dropped it, or `DROP VIEW|FUNCTION|TRIGGER IF EXISTS`: running it again does
    /// the same again from any state it gets through.
    only_replaces: bool,
    /// The file runs as one transaction under Prisma: no transaction control beyond one
    /// `BEGIN ... COMMIT` around it all, nothing that cannot run in a transaction block,
    /// nothing unreadable.
    pub transactional: bool,
    /// The all-or-nothing unit of each statement of `program` (`statements::units`).
    units: Option<Vec<usize>>,
    /// What the file reveals about the state before it ran.
    before: HashMap<Object, Presence>,
}

/// Analyses `sql` with unqualified names in `public`.
pub fn analyse(sql: &str) -> Analysis {
    analyse_in(sql, "public")
}

/// Analyses `sql` with unqualified names in `default_schema` (Prisma's `?schema=`).
pub(crate) fn analyse_in(sql: &str, default_schema: &str) -> Analysis {
    let program = statements::parse(sql, default_schema);
    let mut unknown = Vec::new();
    let mut replaced = Vec::new();
    for s in &program {
        match &s.body {
            statements::Body::Unknown(why) => unknown.push(format!("line {}: {} ({why})", s.line, s.text)),
            statements::Body::Replace(what, _) => {
                replaced.push(format!("line {}: {} ({what}, and running it again does the same again)", s.line, s.text))
            }
            _ => {}
        }
    }
    let replay::Intent { expectations, lookups, informative, before } = replay::intended(&program);
    let units = statements::units(sql);
    let transactional = units.as_deref().is_some_and(statements::one_unit);
    let freed = replay::freed(&program);
    let only_replaces = only_replaces(&program);
    Analysis {
        expectations,
        unknown,
        replaced,
        program,
        lookups,
        informative,
        freed,
        only_replaces,
        transactional,
        units,
        before,
    }
}

/// Whether every statement does the same again when run again: `CREATE OR REPLACE`,
/// `DROP VIEW|FUNCTION|TRIGGER IF EXISTS`, and a view, trigger or function created again
/// after such a drop of it (or of its name).
fn only_replaces(program: &[statements::Stmt]) -> bool {
    use statements::{Body, Op};
    let mut dropped: Vec<Object> = Vec::new();
    program.iter().all(|s| match &s.body {
        Body::Ignored | Body::Replace(..) => true,
        Body::Changes(changes) => changes.iter().all(|c| match &c.op {
            Op::Set { object: Object::Function { .. }, once: false, .. } => true,
            Op::Drop { object: o @ (Object::View { .. } | Object::Function { .. } | Object::Trigger { .. }) }
                if !c.skip_if.is_empty() =>
            {
                dropped.push(o.clone());
                true
            }
            Op::Create { object: o @ Object::Function { .. }, .. } => {
                dropped.iter().any(|d| d == o || d.identity().is_some_and(|id| o.within(&id)))
            }
            _ => false,
        }),
        _ => false,
    })
}

/// The answer, for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    NotApplied,
    Applied,
    Partial,
    Unknown,
}

impl Verdict {
    /// One sentence: what the verdict means and what is safe.
    pub fn describe(self) -> &'static str {
        match self {
            Verdict::NotApplied => {
                "not applied: none of its changes are in the database, apart from any its own guards skip; \
                 marking it rolled back and deploying it again is safe"
            }
            Verdict::Applied => {
                "applied: every change it makes is in the database; marking it applied is safe"
            }
            Verdict::Partial => {
                "partially applied: some of its changes are in the database and others are not \
                 (or something it creates existed before it ran); neither marking it applied nor rolling it back is safe until the database is repaired by hand"
            }
            Verdict::Unknown => {
                "unknown: it has statements or changes the analyser cannot check in the catalogs; decide by hand"
            }
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::NotApplied => "not applied",
            Verdict::Applied => "applied",
            Verdict::Partial => "partially applied",
            Verdict::Unknown => "unknown",
        })
    }
}

/// The verdict and what it rests on.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub verdict: Verdict,
    /// Changes that are in the database (objects created are there, objects dropped are gone).
    pub present: Vec<Expectation>,
    /// Changes that are not.
    pub missing: Vec<Expectation>,
    /// Objects that are there but unusable or of another kind (an INVALID index left
    /// by a failed `CREATE INDEX CONCURRENTLY`, a view where a table should be).
    pub invalid: Vec<Expectation>,
    /// Changes not counted because their object existed before the migration ran
    /// (see [`Evidence::discount`]).
    pub predating: Vec<Expectation>,
    /// Statements not understood (as in [`Analysis::unknown`]).
    pub unknown: Vec<String>,
    /// For a partial verdict: the first statement a re-run would fail on, and why,
    /// or what a re-run would leave missing.
    pub rerun_blocker: Option<String>,
    /// `CREATE OR REPLACE` statements (as in [`Analysis::replaced`]), when they are not
    /// already in `unknown`.
    pub replaced: Vec<String>,
    /// When the transactional rule decided (statements not understood follow the
    /// file's checkable changes): why.
    pub rule: Option<String>,
    /// When a trial run decided or was tried (see `trial.rs`): what it found.
    pub trial: Option<TrialOutcome>,
    /// When the keys of the rows it inserts decided (see `keyed.rs`): what they found.
    pub keys: Option<Keys>,
    /// When its data statements were checked against the rows (see `rows.rs`): what
    /// the checks found.
    pub rows: Option<Rows>,
    /// For *applied*: the statements the verdict takes to have run only because the
    /// transactional rule says so (neither the catalogs nor the rows show them),
    /// `line N: STATEMENT (why)`. Part of a file run by hand would break that rule.
    pub relies_on_rule: Vec<String>,
    /// For *partial*: why the state looks like part of a one-transaction file run by
    /// hand (Prisma cannot leave it so), naming what is not done.
    pub run_by_hand: Option<String>,
    /// Decided because every statement does the same again when run again.
    #[serde(skip)]
    idempotent: bool,
    /// The key lookups and row checks of its data statements, to apply again when
    /// [`Evidence::discount`] judges again.
    #[serde(skip)]
    checked: Option<Box<Checked>>,
    /// What the verdict was computed from, to compute it again.
    #[serde(skip)]
    basis: Option<Box<(Analysis, HashMap<Object, Found>)>>,
}

impl Evidence {
    /// What decided the verdict beyond the catalogs' objects: `"key lookups"`, `"a trial
    /// run"` or `"the transactional rule"` (which also names the re-run rules); `None`
    /// when the objects alone did.
    pub fn decided_by(&self) -> Option<&'static str> {
        self.rule.as_ref()?;
        Some(if self.keys.is_some() {
            "key lookups"
        } else if self.rows.as_ref().is_some_and(|r| !r.not_done.is_empty()) {
            "row checks"
        } else if self.trial == Some(TrialOutcome::Unchanged) {
            "a trial run"
        } else {
            "the transactional rule"
        })
    }

    /// A report for people: the verdict, then which of the migration's changes are
    /// done and which are not (each as the state the migration leaves behind).
    pub fn report(&self) -> String {
        let first = match self.trial {
            Some(TrialOutcome::Unchanged) if self.verdict == Verdict::NotApplied => {
                "safe to run again (whether or not it ran): running it again changes nothing (a trial run of it in a \
                 transaction that was rolled back changed no rows); marking it rolled back and deploying it again is safe"
            }
            _ if self.safe_to_rerun() => {
                "safe to run again (whether or not it ran): what is in the database is what a re-run skips or does the \
                 same again; marking it rolled back and deploying it again is safe"
            }
            _ => self.verdict.describe(),
        };
        format!("{first}\n{}", self.details())
    }

    /// The lists of [`Evidence::report`] without the verdict line, indented by two.
    pub fn details(&self) -> String {
        let mut out = String::new();
        if let (Some(by), Some(r)) = (self.decided_by(), &self.rule) {
            out.push_str(&format!("  decided by {by}: {r}\n"));
        }
        match &self.trial {
            Some(TrialOutcome::Changes { rows }) => out
                .push_str(&format!("  trial run (in a transaction that was rolled back): it changed {rows} row(s)\n")),
            Some(TrialOutcome::Failed { error }) => {
                out.push_str(&format!("  trial run (in a transaction that was rolled back) failed: {error}\n"))
            }
            Some(TrialOutcome::Skipped { why }) => out.push_str(&format!("  {why}\n")),
            _ => {}
        }
        let mut list = |title: &str, items: &mut dyn Iterator<Item = String>| {
            let items: Vec<String> = items.collect();
            if !items.is_empty() {
                out.push_str(&format!("  {title}:\n"));
                for i in items {
                    out.push_str(&format!("    {i}\n"));
                }
            }
        };
        list("not understood", &mut self.unknown.iter().cloned());
        if let Some(r) = &self.rows {
            list("checked against the rows: not done", &mut r.not_done.iter().cloned());
            list("checked against the rows: done", &mut r.done.iter().cloned());
        }
        list(
            "relies on the transactional rule (not checked against the rows)",
            &mut self.relies_on_rule.iter().cloned(),
        );
        list("not checked (safe to run again)", &mut self.replaced.iter().cloned());
        list("done (as the migration leaves it)", &mut self.present.iter().map(|e| e.to_string()));
        // Each line says what the database holds now, so that it reads true on its own;
        // properties of an object that is itself missing are left out (a column that
        // does not exist has no type to be wrong, and is not NOT NULL either).
        let absent: HashSet<&Object> =
            self.missing.iter().filter(|e| e.applied_means == Presence::Present).map(|e| &e.object).collect();
        let missing_parent = |e: &&Expectation| e.object.parent().is_some_and(|p| absent.contains(&p));
        // The summary counts every change: a line that stands for the ones left out
        // says how many, so that the list and the count agree.
        let top = |o: &Object| {
            let mut top = o.clone();
            while let Some(p) = top.parent().filter(|p| absent.contains(p)) {
                top = p;
            }
            top
        };
        let mut folded: std::collections::HashMap<Object, usize> = std::collections::HashMap::new();
        for e in self.missing.iter().filter(|e| missing_parent(e)) {
            *folded.entry(top(&e.object)).or_default() += 1;
        }
        list(
            "not done (as the database has it now)",
            &mut self.missing.iter().filter(|e| !missing_parent(e)).map(|e| match folded.get(&e.object) {
                Some(n) => format!(
                    "{}, and the {n} change{} the migration makes to it",
                    e.now(),
                    if *n == 1 { "" } else { "s" }
                ),
                None => e.now(),
            }),
        );
        list(
            "in the way (there, but unusable or of another kind)",
            &mut self.invalid.iter().map(|e| format!("{} (line {})", e.object, e.line)),
        );
        list("not counted (existed before the migration ran)", &mut self.predating.iter().map(|e| e.to_string()));
        if let Some(b) = &self.rerun_blocker {
            out.push_str(&format!("  a re-run would fail: {b}\n"));
        }
        out
    }

    /// A "not applied" verdict the evidence does not show as such: some of its
    /// changes are there (ones a re-run skips), or it was decided because a re-run does
    /// the same again or changes nothing. It may well have run; what the evidence
    /// shows is that running it again is safe, whether or not it ran.
    pub fn safe_to_rerun(&self) -> bool {
        self.verdict == Verdict::NotApplied
            && (!self.present.is_empty()
                || self.idempotent
                || self.rule.is_some()
                || self.trial == Some(TrialOutcome::Unchanged))
    }

    /// The verdict's name for reports: `safe_to_rerun` for [`Evidence::safe_to_rerun`],
    /// else the verdict's (`not_applied`, `applied`, `partial`, `unknown`).
    pub fn verdict_name(&self) -> &'static str {
        match self.verdict {
            _ if self.safe_to_rerun() => "safe_to_rerun",
            Verdict::NotApplied => "not_applied",
            Verdict::Applied => "applied",
            Verdict::Partial => "partial",
            Verdict::Unknown => "unknown",
        }
    }

    /// One line: the verdict and how many changes are in place.
    pub fn summary(&self) -> String {
        let line = self.summary_line();
        if self.safe_to_rerun() {
            return line.replacen("not applied: ", "safe to run again (whether or not it ran): ", 1);
        }
        line
    }

    fn summary_line(&self) -> String {
        let (p, total) = (self.present.len(), self.present.len() + self.missing.len() + self.invalid.len());
        if let (Some(k), Some(r)) = (&self.keys, &self.rule) {
            let rows = k.present.len() + k.missing.len() + k.guarded_total;
            return match self.verdict {
                Verdict::Applied => format!("applied: {r}"),
                Verdict::NotApplied => format!("not applied: {r}"),
                _ if r.starts_with("partial") => r.clone(),
                _ => format!("partially applied: {r} ({rows} rows looked up by their unique keys)"),
            };
        }
        match self.verdict {
            Verdict::NotApplied if self.trial == Some(TrialOutcome::Unchanged) => {
                "not applied: a trial run of its data statements, rolled back, changed no rows, so running it again \
                 changes nothing whether or not it ran"
                    .to_string()
            }
            Verdict::Applied if !self.relies_on_rule.is_empty() => {
                let n = self.relies_on_rule.len();
                let more = if n > 1 { format!(", and {} more", n - 1) } else { String::new() };
                format!(
                    "applied: all {total} of its checkable changes are in the database; {n} statement(s) neither the \
                     catalogs nor the rows can show rely on the transactional rule (Prisma runs each transaction \
                     of the file whole, so they ran with the rest; not so if part of it was run by hand): {}{more}",
                    self.relies_on_rule[0]
                )
            }
            Verdict::Applied if self.rows.as_ref().is_some_and(|r| !r.done.is_empty()) => format!(
                "applied: all {total} of its checkable changes are in the database, and its data statement(s), \
                 checked against the rows, would change no row now"
            ),
            Verdict::Applied if self.rule.is_some() => format!(
                "applied: all {total} of its checkable changes are in the database, and what it cannot check went with them"
            ),
            Verdict::NotApplied if self.idempotent && total > 0 => format!(
                "not applied: {p} of its {total} checkable changes are in the database, and every statement of it \
                 does the same again when run again (CREATE OR REPLACE, DROP ... IF EXISTS, or creating again what such a drop removed)"
            ),
            Verdict::NotApplied if total == 0 && self.rule.is_some() => {
                "not applied: it only has CREATE OR REPLACE and DROP ... IF EXISTS statements, which are safe to run again"
                    .to_string()
            }
            Verdict::Applied => format!("applied: all {total} of its changes are in the database"),
            Verdict::NotApplied if self.rule.is_some() => format!(
                "not applied: {p} of its {total} checkable changes are in the database (all of them ones a re-run skips), \
                 and what it cannot check is safe to run again"
            ),
            Verdict::NotApplied if p == 0 => format!("not applied: none of its {total} changes are in the database"),
            Verdict::NotApplied => {
                format!("not applied: {p} of its {total} changes are in the database, all of them ones a re-run skips")
            }
            Verdict::Partial if self.run_by_hand.is_some() => {
                format!("partial (run by hand?): {}", self.run_by_hand.as_deref().unwrap_or_default())
            }
            Verdict::Partial => {
                let mut s = format!("partially applied: {p} of its {total} changes are in the database");
                if !self.invalid.is_empty() {
                    s.push_str(&format!(", {} object(s) in the way", self.invalid.len()));
                }
                s
            }
            Verdict::Unknown => {
                let first = self.unknown.first().map(String::as_str).unwrap_or("nothing checkable");
                match self.unknown.len() {
                    0 | 1 => format!("unknown: {first}"),
                    n => format!("unknown: {first}, and {} more", n - 1),
                }
            }
        }
    }

    /// Stops counting the changes to the object named `name` (in any schema) and to what
    /// it owns as evidence, and judges again: for an object the failed attempt's own
    /// error says "already exists", which therefore predates the migration. A re-run is
    /// then judged as if the migration skipped it (as it will once the file is fixed).
    /// False when the migration does not mention such an object.
    pub fn discount(&mut self, name: &str) -> bool {
        let Some(basis) = self.basis.take() else {
            return false;
        };
        let (analysis, found) = &*basis;
        let mut off: HashSet<Object> = self.predating.iter().map(|e| e.object.clone()).collect();
        let before = off.len();
        off.extend(analysis.expectations.iter().filter(|e| names_object(e, name)).map(|e| e.object.clone()));
        let changed = off.len() != before;
        let trial = self.trial.take();
        let checked = self.checked.take();
        *self = judge_with(analysis, found, &off);
        if let Some(t) = trial {
            self.apply_trial(t);
        }
        if let Some(c) = checked {
            self.apply_checked(&c);
            self.checked = Some(c);
        }
        changed
    }
}

/// One line: see [`Evidence::summary`].
pub(crate) fn summary(e: &Evidence) -> String {
    e.summary()
}

/// Prints [`Evidence::details`] to stdout.
pub(crate) fn print_details(e: &Evidence) {
    out!("{}", e.details());
}

/// Whether the change is about the object called `name`, or something it owns
/// (`attendance_status` names the enum, its values and its type).
pub(crate) fn names_object(e: &Expectation, name: &str) -> bool {
    names(&e.object).contains(&name)
}

fn names(o: &Object) -> Vec<&str> {
    match o {
        Object::Schema { name } | Object::Extension { name } => vec![name],
        Object::Table { name, .. }
        | Object::Enum { name, .. }
        | Object::Type { name, .. }
        | Object::Index { name, .. }
        | Object::Sequence { name, .. } => vec![name],
        Object::Column { table, name, .. } | Object::Constraint { table, name, .. } => {
            vec![table, name]
        }
        Object::NotNull { table, column, .. } | Object::Default { table, column, .. } => {
            vec![table, column]
        }
        Object::ConstraintDef { table, name, .. }
        | Object::Trigger { table, name, .. }
        | Object::Policy { table, name, .. } => {
            vec![table, name]
        }
        Object::IndexDef { name, .. }
        | Object::View { name, .. }
        | Object::ViewDef { name, .. }
        | Object::Function { name, .. } => vec![name],
        Object::Unnamed { table, .. } => vec![table],
        Object::ColumnType { table, column, .. } => vec![table, column],
        Object::EnumValue { enum_name, .. } | Object::EnumValues { enum_name, .. } => {
            vec![enum_name]
        }
    }
}

/// The verdict again, for evidence whose lists a caller has shortened: changes no
/// longer in `present`, `missing` or `invalid` count as predating the migration (see
/// [`Evidence::discount`]). The tests' oracle for `discount`; the program reads
/// `Evidence::verdict`.
#[cfg(test)]
pub(crate) fn verdict_of(e: &Evidence) -> Verdict {
    let Some(basis) = &e.basis else {
        return e.verdict;
    };
    let (analysis, found) = &**basis;
    let kept: HashSet<&Object> = e.present.iter().chain(&e.missing).chain(&e.invalid).map(|x| &x.object).collect();
    let off: HashSet<Object> =
        analysis.expectations.iter().map(|x| &x.object).filter(|o| !kept.contains(o)).cloned().collect();
    let mut again = judge_with(analysis, found, &off);
    if let Some(k) = &e.keys {
        again.apply_keys(k.clone());
    }
    if let Some(t) = &e.trial {
        again.apply_trial(t.clone());
    }
    again.verdict
}

/// The verdict for `analysis` given what the catalogs hold (`found`; objects not in it
/// count as absent).
pub(crate) fn judge(analysis: &Analysis, found: &HashMap<Object, Found>) -> Evidence {
    judge_with(analysis, found, &HashSet::new())
}

/// [`judge`], not counting the changes to `predating` objects.
fn judge_with(analysis: &Analysis, found_in: &HashMap<Object, Found>, predating_in: &HashSet<Object>) -> Evidence {
    let found = found_in;
    let state = |o: &Object| found.get(o).copied().unwrap_or(Found::Absent);
    // What the catalogs could not decide by definition (see `Looked`) is not counted,
    // as if it predated the migration.
    let looked = Looked::find(analysis, found);
    let mut predating = predating_in.clone();
    predating.extend(looked.unsure.iter().cloned());
    let predating = &predating;
    // A view's query or a function's definition not compared is set again by a re-run,
    // as without the comparison.
    let replaced_unsure = |o: &&Object| matches!(o, Object::ViewDef { .. } | Object::Function { def: Some(_), .. });
    let mut adjusted;
    let found = if looked.unsure.iter().any(|o| replaced_unsure(&o)) {
        adjusted = found.clone();
        for o in looked.unsure.iter().filter(replaced_unsure) {
            adjusted.insert(o.clone(), Found::Present);
        }
        &adjusted
    } else {
        found
    };
    let counted: Vec<&Expectation> = analysis.expectations.iter().filter(|e| !predating.contains(&e.object)).collect();
    let (mut present, mut missing, mut invalid) = (Vec::new(), Vec::new(), Vec::new());
    for e in &counted {
        match state(&e.object) {
            s if replay::holds(&e.object, s, e.applied_means, &analysis.freed) => present.push((*e).clone()),
            // A property of a column that does not exist is simply not in place (nor is a
            // relation whose name the file frees first).
            Found::Invalid if e.object.is_column_property() || analysis.freed.contains(&e.object) => {
                missing.push((*e).clone())
            }
            Found::Invalid => invalid.push((*e).clone()),
            _ => missing.push((*e).clone()),
        }
    }
    let mut rerun_blocker = None;
    let mut unknown = analysis.unknown.clone();
    unknown.extend(looked.reasons.iter().cloned());
    // The transactional rule: Prisma sends the file as one query, which the server runs
    // as one implicit transaction, so what the analyser cannot check (data changes,
    // functions, ...) ran exactly when the checkable changes did.
    let placed = Placed::find(analysis, found, predating);
    let follows = (analysis.transactional || placed.unknown_decided) && !unknown.is_empty() && !counted.is_empty();
    let proven = placed.all_in || counted.iter().any(|e| analysis.informative.contains(&e.object));
    let replaced = &analysis.replaced;
    let mut resets = false;
    // What running it again from here would do; most verdicts below need it.
    let rerun = replay::rerun(&analysis.program, found, predating);
    // Running it again replaces the same objects again, whatever is there now (unless
    // all of it is checked and in place, and a re-run would change nothing: applied).
    let idempotent = analysis.only_replaces
        && unknown.is_empty()
        && invalid.is_empty()
        && matches!(&rerun, Ok(r) if !replaced.is_empty() || !missing.is_empty() || r.first_change.is_some());
    let verdict = if idempotent {
        Verdict::NotApplied
    } else if counted.is_empty() && unknown.is_empty() {
        unknown.push("the migration makes no change the catalogs can show".into());
        Verdict::Unknown
    } else if (!unknown.is_empty() && !follows) || counted.is_empty() {
        Verdict::Unknown
    } else if (follows || !replaced.is_empty()) && missing.is_empty() && invalid.is_empty() && !proven {
        if unknown.is_empty() && matches!(&rerun, Ok(r) if r.first_change.is_none()) {
            // All in place, and a re-run would change nothing but set what it replaces
            // again, as the file has it: whether it ran or not, running it again is safe.
            resets = true;
            Verdict::NotApplied
        } else {
            // All in place, but nothing shows it ran: a re-run would still run the statements not understood.
            unknown.extend(replaced.iter().cloned());
            Verdict::Unknown
        }
    } else if !replaced.is_empty()
        && !analysis.transactional
        && !placed.replaced_ran
        && missing.is_empty()
        && invalid.is_empty()
    {
        // Outside one transaction, what it replaces need not have run with the rest.
        unknown.extend(replaced.iter().cloned());
        Verdict::Unknown
    } else if missing.is_empty() && invalid.is_empty() {
        match &rerun {
            // Nothing shows that it ran, and running it would still change the database:
            // the catalogs look the same before and after it.
            Ok(replay::Rerun { first_change: Some((line, text)), .. }) if !proven => {
                unknown.push(format!(
                    "line {line}: {text} (the database looks the same before and after this migration: \
                     it re-creates objects under names that existed before, so the catalogs cannot show whether it ran)"
                ));
                Verdict::Unknown
            }
            _ => Verdict::Applied,
        }
    } else if !invalid.is_empty() {
        Verdict::Partial
    } else {
        match &rerun {
            Ok(r) => {
                let left = counted.iter().find(|e| {
                    !replay::holds(
                        &e.object,
                        r.end.get(&e.object).copied().unwrap_or(Found::Absent),
                        e.applied_means,
                        &analysis.freed,
                    )
                });
                match (left, &placed.unknown_ran) {
                    (None, Some((line, text))) => {
                        rerun_blocker = Some(format!(
                            "it would run line {line} again ({text}), which the catalogs cannot check and which \
                             committed with an earlier BEGIN ... COMMIT block of the file"
                        ));
                        Verdict::Partial
                    }
                    (None, None) => Verdict::NotApplied,
                    (Some(e), _) => {
                        rerun_blocker = Some(format!(
                            "it would run without error but leave {} undone: its guard skips an object that is already there",
                            e.object.describe(e.applied_means)
                        ));
                        Verdict::Partial
                    }
                }
            }
            Err(b) => {
                rerun_blocker = Some(format!("line {}: {}: {}", b.line, b.statement, b.why));
                Verdict::Partial
            }
        }
    };
    let unchecked = analysis.unknown.len() + replaced.len();
    let one_transaction = "it has no transaction control (other than one BEGIN ... COMMIT around all of it) and \
                           nothing that cannot run in a transaction, so Prisma ran it as one transaction";
    let rule = match verdict {
        Verdict::NotApplied if resets => Some(format!(
            "its checkable changes are all in place and none of them would change if it ran again; its {} \
             statement(s) checked only in part or not at all replace what they make, so running it again sets \
             that as the file has it, whatever ran",
            replaced.len()
        )),
        Verdict::NotApplied if idempotent => Some(
            "every statement of it is CREATE OR REPLACE, DROP ... IF EXISTS, or creates again what such a DROP \
             removed: running it again does the same again, whatever ran"
                .to_string(),
        ),
        _ if unchecked == 0 => None,
        Verdict::Applied if analysis.transactional => Some(format!(
            "{one_transaction}; its checkable changes are all in place, so its {unchecked} statement(s) the \
             catalogs cannot show ran too"
        )),
        Verdict::NotApplied if analysis.transactional => Some(format!(
            "{one_transaction}; its checkable changes are not all in place, so that transaction did not commit and \
             its {unchecked} statement(s) the catalogs cannot show left nothing behind"
        )),
        Verdict::Applied if placed.all_in => Some(format!(
            "its BEGIN ... COMMIT blocks make it {} transactions, which commit in order until one fails; the \
             catalogs show that the last one committed, so its {unchecked} statement(s) the catalogs cannot show \
             ran too",
            placed.count
        )),
        Verdict::NotApplied if placed.unknown_decided && !analysis.unknown.is_empty() => Some(format!(
            "its BEGIN ... COMMIT blocks make it {} transactions, which commit in order until one fails; the \
             catalogs show that the ones holding its {unchecked} statement(s) the catalogs cannot show did not \
             commit, so those left nothing behind",
            placed.count
        )),
        Verdict::NotApplied => Some(format!(
            "its checkable changes are not in place, and its {} CREATE OR REPLACE or DROP ... IF EXISTS \
             statement(s) do the same again when it is run again",
            replaced.len()
        )),
        _ => None,
    };
    // What an applied verdict takes on the rule alone (the row checks may take some off).
    let relies_on_rule =
        if verdict == Verdict::Applied && rule.is_some() { analysis.unknown.clone() } else { Vec::new() };
    let run_by_hand = match verdict {
        Verdict::Partial if analysis.transactional && invalid.is_empty() => {
            hand_run(analysis, &present, &missing).map(|why| {
                format!("{} of its {} changes are in the database; {why}", present.len(), present.len() + missing.len())
            })
        }
        _ => None,
    };
    let predating = analysis.expectations.iter().filter(|e| predating_in.contains(&e.object)).cloned().collect();
    let replaced = if verdict == Verdict::Unknown { Vec::new() } else { replaced.clone() };
    Evidence {
        rule,
        trial: None,
        keys: None,
        rows: None,
        relies_on_rule,
        run_by_hand,
        checked: None,
        replaced,
        verdict,
        present,
        missing,
        invalid,
        predating,
        unknown,
        rerun_blocker,
        idempotent,
        basis: Some(Box::new((analysis.clone(), found_in.clone()))),
    }
}

/// What the catalogs' lookups by definition found beyond present and absent.
#[derive(Default)]
struct Looked {
    /// A view's query that could not be told the same as the file's or another one, a
    /// replaced function whose argument defaults could not (see `catalog::compare_defaults`),
    /// and an unnamed constraint of which the table has two or more of the definition.
    unsure: HashSet<Object>,
    /// Why an unnamed constraint stays undecided: `line N: STATEMENT (why)`.
    reasons: Vec<String>,
}

impl Looked {
    fn find(analysis: &Analysis, found: &HashMap<Object, Found>) -> Looked {
        let mut out = Looked::default();
        for e in &analysis.expectations {
            let state = found.get(&e.object).copied().unwrap_or(Found::Absent);
            match (&e.object, state) {
                // Its statement stays "not checked" (`Body::Replace`), as without the comparison:
                // a view's query, or a replaced function's argument defaults, that the server
                // prints otherwise than the file writes them.
                (Object::ViewDef { .. } | Object::Function { def: Some(_), .. }, Found::Invalid) => {
                    out.unsure.insert(e.object.clone());
                }
                (Object::Unnamed { table, .. }, Found::Invalid) => {
                    out.unsure.insert(e.object.clone());
                    out.reasons.push(format!(
                        "line {}: {} (the catalogs cannot tell whether this statement added its constraint: table \
                         {table:?} has two or more constraints of this definition, or another CHECK that may be this \
                         one printed otherwise; compare its constraints (pg_constraint) with what the migrations add, \
                         and drop an extra copy by hand if it ran twice)",
                        e.line, e.statement
                    ));
                }
                _ => {}
            }
        }
        out
    }
}

/// Why a partial state of a file Prisma runs as one transaction looks run by hand: a
/// change that shows the file ran is in place while another is not, which one
/// transaction cannot leave. Names the first change not done, with its statement.
fn hand_run(analysis: &Analysis, present: &[Expectation], missing: &[Expectation]) -> Option<String> {
    let done = present.iter().find(|e| analysis.informative.contains(&e.object))?;
    let not = missing.first()?;
    let now = match not.applied_means {
        Presence::Present => Presence::Absent,
        Presence::Absent => Presence::Present,
    };
    Some(format!(
        "line {} is done ({}) and line {} is not ({}: {}), which Prisma, running the file as one transaction, cannot \
         leave: was part of it run by hand (pasted into psql), or did something it creates exist before it ran? \
         Repair by hand",
        done.line,
        done.object.describe(done.applied_means),
        not.line,
        not.statement,
        not.object.describe(now),
    ))
}

/// What the key lookups and row checks found for a file's data statements.
#[derive(Debug, Clone)]
struct Checked {
    keys: Option<Keys>,
    rows: Option<Rows>,
    /// The lines of the inserts whose rows the key lookups looked up.
    keyed: Vec<usize>,
}

/// Where the statements not understood stand in a file of several all-or-nothing
/// units (see `units.rs`); all false for a file of one unit.
#[derive(Default)]
struct Placed {
    /// How many units the file has.
    count: usize,
    /// The catalogs show that every unit is in.
    all_in: bool,
    /// Every statement not understood is in a unit that is in whatever the catalogs
    /// allow, or in one that is not.
    unknown_decided: bool,
    /// The first statement not understood that is in (line, text): a re-run repeats it.
    unknown_ran: Option<(usize, String)>,
    /// Every `CREATE OR REPLACE` is in a unit that is in.
    replaced_ran: bool,
}

impl Placed {
    fn find(analysis: &Analysis, found: &HashMap<Object, Found>, predating: &HashSet<Object>) -> Placed {
        let Some(units) = analysis.units.as_deref().filter(|u| !statements::one_unit(u)) else {
            return Placed::default();
        };
        let count = units.iter().max().map_or(0, |m| m + 1);
        let possible = units::possible(&analysis.program, units, &analysis.before, found, predating, &analysis.freed);
        let (Some(&low), Some(&high)) = (possible.first(), possible.last()) else {
            // Nothing fits: changed by hand since, or by something the analyser does not follow.
            return Placed { count, ..Placed::default() };
        };
        let ran = |u: usize| u < low;
        let of = |unknown: bool| {
            analysis.program.iter().zip(units).filter(move |(s, _)| match &s.body {
                statements::Body::Unknown(_) => unknown,
                statements::Body::Replace(..) => !unknown,
                _ => false,
            })
        };
        Placed {
            count,
            all_in: low == count,
            unknown_decided: of(true).all(|(_, &u)| ran(u) || u >= high),
            unknown_ran: of(true).find(|(_, &u)| ran(u)).map(|(s, _)| (s.line, s.text.clone())),
            replaced_ran: of(false).all(|(_, &u)| ran(u)),
        }
    }
}

/// Analyses `sql` and checks it against the database in one query; a file of data
/// statements only that the catalogs leave unknown gets a trial run (see `trial.rs`).
pub fn assess(target: &Target, sql: &str, default_schema: &str) -> Result<Evidence, Failure> {
    assess_with(target, sql, default_schema, Some(TrialBounds::default()))
}

/// [`assess`] with the trial run's bounds, or without a trial run (`None`).
pub fn assess_with(
    target: &Target,
    sql: &str,
    default_schema: &str,
    trial: Option<TrialBounds>,
) -> Result<Evidence, Failure> {
    assess_trying(target, sql, default_schema, trial.map_or(Trial::Off, Trial::Run))
}

/// Whether the evidence may run a trial, and how.
#[derive(Debug, Clone)]
pub(crate) enum Trial {
    /// Never: the catalogs alone decide.
    Off,
    /// Within these bounds, where the file is eligible and its tables are small enough.
    Run(TrialBounds),
    /// Not again: this run already tried the same file on the same database, with this
    /// outcome (a trial run twice costs production twice and finds the same).
    Earlier(TrialOutcome),
}

/// [`assess`] with a [`Trial`] policy; [`Evidence::trial`] says what it found (or why
/// it was skipped), for the caller to keep for the rest of its run.
pub(crate) fn assess_trying(
    target: &Target,
    sql: &str,
    default_schema: &str,
    trial: Trial,
) -> Result<Evidence, Failure> {
    let analysis = analyse_in(sql, default_schema);
    let found = catalog::look_up(target, &analysis.lookups)?;
    let mut ev = judge(&analysis, &found);
    if matches!(ev.verdict, Verdict::Applied | Verdict::Partial) && !analysis.unknown.is_empty() {
        // The transactional rule says its data statements ran with its schema changes,
        // which holds for what Prisma ran, not for part of a file run by hand: rows it
        // inserts under a unique key show it, and so do rows an UPDATE, a DELETE or an
        // INSERT ... SELECT would still change (`rows.rs`). Checked on a partial verdict
        // too: `discount` may judge it applied once an object is not counted (the DDL
        // pasted by hand, then a deploy that failed on "already exists").
        let inserts = keyed::inserts_among(sql, default_schema);
        let keys = (!inserts.is_empty()).then(|| keyed::look_up(target, &inserts, false)).flatten();
        let keyed = keys.as_ref().map(|k| k.lines.clone()).unwrap_or_default();
        let statements = rows::statements(sql, default_schema);
        let schema = target.url.dropped.iter().any(|p| p == "schema").then_some(default_schema);
        let rows = (!statements.is_empty()).then(|| rows::run(target, &statements, &keyed, schema));
        let checked = Checked { keys, rows, keyed };
        ev.apply_checked(&checked);
        ev.checked = Some(Box::new(checked));
        return Ok(ev);
    }
    if ev.verdict != Verdict::Unknown || no_trial(&analysis, sql).is_some() {
        return Ok(ev);
    }
    // Constant rows under a unique key: their keys decide, read-only, without a trial.
    if let Some(keys) = keyed::inserts(sql, default_schema).and_then(|x| keyed::look_up(target, &x, true)) {
        ev.apply_keys(keys);
        return Ok(ev);
    }
    let outcome = match trial {
        Trial::Off => return Ok(ev),
        Trial::Earlier(outcome) => outcome,
        Trial::Run(bounds) => {
            let size = match bounds.max_rows {
                None => None,
                Some(_) => match trial::estimate(target, sql, default_schema) {
                    Ok(tables) => trial::too_large(&tables, bounds),
                    Err(f) => Some(format!(
                        "trial skipped: the sizes of the tables it touches could not be read ({}), so it may not \
                         run on production",
                        f.message.lines().next().unwrap_or("no error")
                    )),
                },
            };
            match size {
                Some(why) => TrialOutcome::Skipped { why },
                None => trial::run(target, sql, default_schema, bounds),
            }
        }
    };
    ev.apply_trial(outcome);
    Ok(ev)
}

/// Why a trial run may not decide `sql` (see `trial.rs`), or `None` when it may.
pub fn trial_ineligible(sql: &str) -> Option<String> {
    no_trial(&analyse(sql), sql)
}

/// [`trial_ineligible`] for `sql` analysed as `analysis`.
fn no_trial(analysis: &Analysis, sql: &str) -> Option<String> {
    let checkable = !analysis.expectations.is_empty() || !analysis.replaced.is_empty();
    trial::ineligible(sql, checkable, analysis.transactional)
}

impl Evidence {
    /// Takes the key lookups of a file of constant-row inserts into unknown evidence:
    /// none of its rows there is *not applied*, all of them *applied*, some *partial*.
    fn apply_keys(&mut self, keys: Keys) {
        if self.verdict == Verdict::Applied && !keys.missing.is_empty() {
            // Applied by the transactional rule, but rows it inserts are not there.
            let first = &keys.missing[0];
            self.rerun_blocker = Some(format!(
                "its schema changes are all in place, but {} row(s) it inserts are not ({first}): Prisma runs it as \
                 one transaction, so part of it was run by hand (or the rows were deleted since); repair by hand",
                keys.missing.len()
            ));
            self.verdict = Verdict::Partial;
            self.rule = Some(format!(
                "partial (run by hand?): its schema changes are in place but {} row(s) it inserts are not",
                keys.missing.len()
            ));
            self.relies_on_rule.clear();
            self.run_by_hand =
                Some(format!("its schema changes are in place but {} row(s) it inserts are not", keys.missing.len()));
            self.keys = Some(keys);
            return;
        }
        if self.verdict != Verdict::Unknown {
            return;
        }
        let guarded_missing = keys.guarded_total - keys.guarded_present;
        let (verdict, rule) = if keys.present.is_empty() {
            let why = if keys.missing.is_empty() {
                "every row it inserts is ON CONFLICT DO NOTHING, so running it again adds what is missing and skips the rest"
                    .to_string()
            } else {
                format!(
                    "none of the {} row(s) it inserts is there (looked up by their unique keys)",
                    keys.missing.len()
                )
            };
            (Verdict::NotApplied, why)
        } else if keys.missing.is_empty() && guarded_missing == 0 {
            let list = keys.present.iter().take(5).cloned().collect::<Vec<_>>().join("; ");
            let more = keys.present.len().saturating_sub(5);
            let more = if more > 0 { format!(" and {more} more") } else { String::new() };
            (
                Verdict::Applied,
                format!(
                    "every row it inserts is there, looked up by its unique key ({list}{more}): it ran, or someone \
                     else inserted those rows"
                ),
            )
        } else {
            let first = keys.present.first().cloned().unwrap_or_default();
            let missing = keys.missing.len() + guarded_missing;
            self.rerun_blocker = Some(format!(
                "{first}: that row is already there, so a re-run fails with a unique violation (23505); {missing} of \
                 its rows are not there (a file Prisma runs as one transaction cannot be left so: was it run by hand, \
                 in part?)"
            ));
            (Verdict::Partial, format!("{} of its rows are there and {missing} are not", keys.present.len()))
        };
        self.verdict = verdict;
        self.rule = Some(rule);
        self.unknown.retain(|u| !u.contains(statements::DATA_CHANGES));
        self.keys = Some(keys);
    }

    /// Takes what the checks of its data statements found into an applied verdict.
    fn apply_checked(&mut self, c: &Checked) {
        if self.verdict != Verdict::Applied {
            return;
        }
        if let Some(keys) = &c.keys {
            self.apply_keys(keys.clone());
        }
        if let (Verdict::Applied, Some(rows)) = (self.verdict, &c.rows) {
            self.apply_rows(rows.clone(), &c.keyed);
        }
    }

    /// Takes the row checks of an applied file's data statements (`rows.rs`): a statement
    /// that would still change rows makes it *partial (run by hand?)*; one that would
    /// change none no longer relies on the transactional rule, nor does an insert whose
    /// rows the key lookups found (`keyed`: their lines); the rest still do, with why.
    fn apply_rows(&mut self, rows: Rows, keyed: &[usize]) {
        let line_of = |entry: &str| -> Option<usize> { entry.strip_prefix("line ")?.split(':').next()?.parse().ok() };
        if let Some(first) = rows.not_done.first() {
            self.verdict = Verdict::Partial;
            self.relies_on_rule.clear();
            let why = format!(
                "its schema changes are all in place, but {} of its data statement(s) would still change rows \
                 ({first}): Prisma runs it as one transaction, so part of it was run by hand (or those rows were \
                 written since it ran); repair by hand",
                rows.not_done.len()
            );
            self.rerun_blocker = Some(why.clone());
            self.rule = Some(format!("partial (run by hand?): {why}"));
            self.run_by_hand = Some(why);
        } else {
            let covered: Vec<usize> =
                rows.done.iter().filter_map(|e| line_of(e)).chain(keyed.iter().copied()).collect();
            let mut relies = Vec::new();
            for u in &self.relies_on_rule {
                let line = line_of(u);
                if line.is_some_and(|l| covered.contains(&l)) {
                    continue;
                }
                // The row checks' reason when they looked at it, else why the catalogs cannot show it.
                let why = rows.not_checked.iter().find(|n| line.is_some() && line_of(n) == line);
                relies.push(why.unwrap_or(u).clone());
            }
            self.relies_on_rule = relies;
        }
        self.rows = Some(rows);
    }

    /// Takes a trial run's outcome into unknown evidence: no rows changed is *not
    /// applied*; rows changed or an error stay *unknown*, with that as the first reason.
    fn apply_trial(&mut self, outcome: TrialOutcome) {
        if self.verdict != Verdict::Unknown {
            return;
        }
        match &outcome {
            TrialOutcome::Unchanged => {
                self.verdict = Verdict::NotApplied;
                self.rule = Some(
                    "a trial run of its data statements in a transaction that was rolled back changed no rows, so \
                     running it again changes nothing whether or not it ran (marking it rolled back and deploying it \
                     again is safe)"
                        .into(),
                );
            }
            TrialOutcome::Changes { rows } => self.unknown.insert(
                0,
                format!(
                    "a trial run in a transaction that was rolled back changed {rows} row(s): either it has not \
                     run, or it changes them again each time it runs; decide by hand"
                ),
            ),
            TrialOutcome::Failed { error } => {
                self.unknown.insert(0, format!("a trial run in a transaction that was rolled back failed: {error}"))
            }
            TrialOutcome::Skipped { why } => self.unknown.insert(0, why.clone()),
        }
        self.trial = Some(outcome);
    }
}

#[cfg(test)]
mod tests;
