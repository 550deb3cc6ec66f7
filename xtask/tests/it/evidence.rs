//! Evidence against a real PostgreSQL 15: a Prisma migration not applied, applied,
//! half applied, with a statement the analyser cannot check, in a non-default
//! schema, an INVALID index from a failed `CREATE INDEX CONCURRENTLY`, Prisma's
//! enum rewrite, and names that need quoting.

use pgcluster::{Cluster, ClusterOptions};
use xtask::testing::db::Target;
use xtask::testing::evidence::{self, lexer, Evidence, Object, Presence, Verdict};

use crate::harness::TempDir;

/// What earlier migrations created.
const INIT: &str = r#"-- CreateEnum
CREATE TYPE "notification_type" AS ENUM ('GENERAL', 'ATTENDANCE');

-- CreateTable
CREATE TABLE "users" (
    "id" TEXT NOT NULL,
    "email" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "role" TEXT NOT NULL DEFAULT 'STUDENT',
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "users_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "users_email_key" ON "users"("email");
"#;

/// The migration that failed: Prisma's output with hand-made guards, as in production.
const MIGRATION: &str = r#"-- CreateEnum
CREATE TYPE "library_issue_status" AS ENUM ('ISSUED', 'RETURNED', 'OVERDUE', 'LOST');

-- CreateEnum
DO $$ BEGIN
    CREATE TYPE "gallery_privacy" AS ENUM ('PUBLIC', 'SCHOOL_ONLY', 'PRIVATE');
EXCEPTION
    WHEN duplicate_object THEN null;
END $$;

-- AlterEnum
ALTER TYPE "notification_type" ADD VALUE IF NOT EXISTS 'LIBRARY';

-- CreateTable
CREATE TABLE "library_books" (
    "id" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "isbn" TEXT,
    "issued_to_id" TEXT,
    "issue_status" "library_issue_status",
    "cost" DECIMAL(10,2),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "library_books_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "galleries" (
    "id" TEXT NOT NULL,
    "privacy" "gallery_privacy" NOT NULL DEFAULT 'SCHOOL_ONLY',
    "image_urls" TEXT[],
    "created_by_id" TEXT NOT NULL,

    CONSTRAINT "galleries_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "notes" (
    "id" TEXT NOT NULL,
    "author_id" TEXT NOT NULL,
    "content" TEXT NOT NULL,

    CONSTRAINT "notes_pkey" PRIMARY KEY ("id")
);

-- AlterTable
ALTER TABLE "users" ADD COLUMN "phone" TEXT,
ALTER COLUMN "name" DROP NOT NULL;

-- CreateIndex
CREATE UNIQUE INDEX "library_books_isbn_key" ON "library_books"("isbn");

-- CreateIndex
CREATE INDEX "notes_author_id_idx" ON "notes"("author_id");

-- AddForeignKey
ALTER TABLE "library_books" ADD CONSTRAINT "library_books_issued_to_id_fkey" FOREIGN KEY ("issued_to_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
DO $$ BEGIN
    ALTER TABLE "notes" ADD CONSTRAINT "notes_author_id_fkey" FOREIGN KEY ("author_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
EXCEPTION
    WHEN duplicate_object THEN null;
END $$;
"#;

/// A cluster with database `app`; the temp dir outlives the cluster (dropped after it).
pub(crate) struct Db {
    pub(crate) cluster: Cluster,
    _dir: TempDir,
}

impl Db {
    pub(crate) fn start(label: &str) -> Db {
        let dir = TempDir::new(label);
        let opts = ClusterOptions { tls: false, superuser_password: "evidence pw".into() };
        let cluster = Cluster::start(&dir.path().join("pg"), &opts).expect("start PostgreSQL");
        cluster.create_database("app").expect("create database");
        Db { cluster, _dir: dir }
    }

    fn run(&self, sql: &str) {
        self.cluster.psql("app", sql).unwrap_or_else(|e| panic!("{e:#}\n{sql}"));
    }

    fn target(&self, query: &str) -> Target {
        Target::from_url("DATABASE_URL", &format!("{}{query}", self.cluster.url("app")), None).unwrap()
    }

    fn assess(&self, sql: &str) -> Evidence {
        let target = self.target("");
        evidence::assess(&target, sql, &target.url.schema).unwrap_or_else(|f| panic!("{}", f.message))
    }
}

fn objects(list: &[evidence::Expectation]) -> Vec<String> {
    list.iter().map(|e| e.object.describe(e.applied_means)).collect()
}

/// The statements of `sql`, as text, split the way the analyser splits them.
fn statements(sql: &str) -> Vec<String> {
    let tokens = lexer::tokenize(sql);
    lexer::split_statements(&tokens).into_iter().map(|s| format!("{};", &sql[s[0].start..s[s.len() - 1].end])).collect()
}

#[test]
fn nothing_applied_is_not_applied() {
    let db = Db::start("ev-none");
    db.run(INIT);
    let ev = db.assess(MIGRATION);
    assert_eq!(ev.verdict, Verdict::NotApplied, "{}", ev.report());
    assert!(ev.present.is_empty(), "{}", ev.report());
    assert!(ev.unknown.is_empty() && ev.invalid.is_empty());
    let analysis = evidence::analyse(MIGRATION);
    assert_eq!(ev.missing.len(), analysis.expectations.len());
}

#[test]
fn everything_applied_is_applied() {
    let db = Db::start("ev-all");
    db.run(INIT);
    db.run(MIGRATION);
    let ev = db.assess(MIGRATION);
    assert_eq!(ev.verdict, Verdict::Applied, "{}", ev.report());
    assert!(ev.missing.is_empty());
    let present = objects(&ev.present);
    for want in [
        r#"enum "public"."library_issue_status" has exactly the values ('ISSUED', 'RETURNED', 'OVERDUE', 'LOST')"#,
        r#"enum value "public"."notification_type" 'LIBRARY' exists"#,
        r#"column "public"."galleries"."image_urls" exists"#,
        r#"constraint "notes_author_id_fkey" on "public"."notes" exists"#,
        r#"index "public"."library_books_isbn_key" exists"#,
        r#"column "public"."users"."name" allows NULL"#,
    ] {
        assert!(present.iter().any(|p| p == want), "{want} not in {present:#?}");
    }
}

#[test]
fn first_half_applied_is_partial_with_both_lists() {
    let db = Db::start("ev-half");
    db.run(INIT);
    let stmts = statements(MIGRATION);
    let (first, second) = stmts.split_at(stmts.len() / 2);
    let (first, second) = (first.join("\n"), second.join("\n"));
    db.run(&first);
    let ev = db.assess(MIGRATION);
    assert_eq!(ev.verdict, Verdict::Partial, "{}", ev.report());

    // Exactly what the first half creates is there; what only the second half creates is not.
    let first_half: Vec<Object> = evidence::analyse(&first).expectations.into_iter().map(|e| e.object).collect();
    let second_half: Vec<Object> = evidence::analyse(&second).expectations.into_iter().map(|e| e.object).collect();
    assert!(!first_half.is_empty() && !second_half.is_empty());
    for e in &ev.present {
        assert!(first_half.contains(&e.object), "{e} is there but the first half does not create it");
    }
    for o in &first_half {
        assert!(ev.present.iter().any(|e| e.object == *o), "{o} is missing");
    }
    for e in &ev.missing {
        assert!(second_half.contains(&e.object), "{e} is missing but the first half creates it");
    }
    let missing = objects(&ev.missing);
    assert!(missing.contains(&r#"table "public"."notes" exists"#.to_string()), "{missing:#?}");
    assert!(objects(&ev.present).contains(&r#"table "public"."library_books" exists"#.to_string()));
    // A re-run would fail on the first unguarded object that is already there.
    let blocker = ev.rerun_blocker.as_deref().unwrap();
    assert!(blocker.starts_with("line 2: CREATE TYPE \"library_issue_status\""), "{blocker}");
    let report = ev.report();
    assert!(
        report.contains(
            "  not done (as the database has it now):\n    table \"public\".\"notes\" does not exist (line 38), and the "
        ),
        "{report}"
    );
}

#[test]
fn a_statement_not_understood_makes_it_unknown_even_when_the_rest_is_there() {
    let db = Db::start("ev-unknown");
    db.run(INIT);
    // With transaction control of its own, the file is not one transaction: the
    // backfill after its COMMIT may or may not have run.
    let with_data = format!(
        "BEGIN;\n{MIGRATION}\nCOMMIT;\n-- Backfill\nUPDATE \"users\" SET \"role\" = 'TEACHER' WHERE \"email\" LIKE '%@staff%';\n"
    );
    db.run(&with_data);
    let ev = db.assess(&with_data);
    assert_eq!(ev.verdict, Verdict::Unknown, "{}", ev.report());
    assert_eq!(ev.unknown.len(), 1);
    assert!(ev.unknown[0].contains("UPDATE \"users\" SET"), "{:?}", ev.unknown);
    assert!(ev.unknown[0].contains("data changes cannot be checked"), "{:?}", ev.unknown);
    // Everything it could check is there, and the report says so.
    assert!(ev.missing.is_empty());
    assert_eq!(ev.present.len(), evidence::analyse(&with_data).expectations.len());
    assert!(ev.report().starts_with("unknown: "));
}

#[test]
fn prisma_schema_parameter_picks_the_schema() {
    let db = Db::start("ev-schema");
    db.run(&format!("CREATE SCHEMA tenant; SET search_path TO tenant;\n{INIT}"));
    let tenant = db.target("?schema=tenant");
    assert_eq!(tenant.url.schema, "tenant");
    let ev = evidence::assess(&tenant, MIGRATION, &tenant.url.schema).unwrap();
    assert_eq!(ev.verdict, Verdict::NotApplied, "{}", ev.report());

    db.run(&format!("SET search_path TO tenant;\n{MIGRATION}"));
    let ev = evidence::assess(&tenant, MIGRATION, &tenant.url.schema).unwrap();
    assert_eq!(ev.verdict, Verdict::Applied, "{}", ev.report());
    assert!(objects(&ev.present).contains(&r#"table "tenant"."notes" exists"#.to_string()));

    // In public there is nothing this migration could have run against.
    let ev = evidence::assess(&tenant, MIGRATION, "public").unwrap();
    assert_eq!(ev.verdict, Verdict::Partial, "{}", ev.report());
    assert!(ev.present.is_empty());
    assert!(ev.rerun_blocker.unwrap().contains("\"public\".\"notification_type\" does not exist"));
}

#[test]
fn failed_create_index_concurrently_leaves_an_invalid_index() {
    let db = Db::start("ev-invalid");
    db.run(INIT);
    db.run(r#"INSERT INTO "users" ("id", "email", "name") VALUES ('1', 'a@x', 'Ann'), ('2', 'b@x', 'Ann');"#);
    let migration = r#"-- CreateIndex
CREATE UNIQUE INDEX CONCURRENTLY "users_name_key" ON "users"("name");
"#;
    assert!(db.cluster.psql("app", migration).is_err(), "duplicate names must make the index build fail");
    let ev = db.assess(migration);
    assert_eq!(ev.verdict, Verdict::Partial, "{}", ev.report());
    assert_eq!(ev.invalid.len(), 1);
    assert_eq!(ev.invalid[0].object.to_string(), r#"index "public"."users_name_key""#);
    // Once dropped, it is cleanly not applied.
    db.run(r#"DROP INDEX "users_name_key";"#);
    assert_eq!(db.assess(migration).verdict, Verdict::NotApplied);
}

#[test]
fn prisma_enum_rewrite_is_not_applied_before_and_unknown_after() {
    let db = Db::start("ev-enum");
    db.run(
        r#"CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN', 'GUEST');
CREATE TABLE "User" ("id" SERIAL NOT NULL, "role" "Role" NOT NULL DEFAULT 'GUEST', "tags" VARCHAR(20)[], CONSTRAINT "User_pkey" PRIMARY KEY ("id"));"#,
    );
    let migration = r#"-- AlterEnum
BEGIN;
CREATE TYPE "Role_new" AS ENUM ('USER', 'ADMIN');
ALTER TABLE "User" ALTER COLUMN "role" DROP DEFAULT;
ALTER TABLE "User" ALTER COLUMN "role" TYPE "Role_new" USING ("role"::text::"Role_new");
ALTER TYPE "Role" RENAME TO "Role_old";
ALTER TYPE "Role_new" RENAME TO "Role";
DROP TYPE "Role_old";
ALTER TABLE "User" ALTER COLUMN "role" SET DEFAULT 'USER';
COMMIT;

-- AlterTable
ALTER TABLE "User" ALTER COLUMN "tags" SET DATA TYPE VARCHAR(40)[],
ALTER COLUMN "id" SET DATA TYPE BIGINT;
"#;
    let ev = db.assess(migration);
    assert_eq!(ev.verdict, Verdict::NotApplied, "{}", ev.report());
    db.run(migration);
    // Every change is in place, but an enum "Role" with exactly these values could have
    // been there before: the catalogs cannot tell, so a person decides.
    let ev = db.assess(migration);
    assert_eq!(ev.verdict, Verdict::Unknown, "{}", ev.report());
    assert!(ev.missing.is_empty() && ev.invalid.is_empty(), "{}", ev.report());
    assert!(ev.unknown[0].contains("looks the same before and after"), "{:?}", ev.unknown);
    let present = objects(&ev.present);
    for want in [
        r#"enum "public"."Role" has exactly the values ('USER', 'ADMIN')"#,
        r#"column "public"."User"."role" has type "Role""#,
        r#"column "public"."User"."tags" has type varchar(40)[]"#,
        r#"column "public"."User"."id" has type int8"#,
    ] {
        assert!(present.iter().any(|p| p == want), "{want} not in {present:#?}");
    }
}

#[test]
fn names_that_need_quoting_are_looked_up_exactly() {
    let db = Db::start("ev-quote");
    let migration = r#"CREATE SCHEMA IF NOT EXISTS "it's";
CREATE TYPE "it's"."Mood ""quoted""" AS ENUM ('it''s', 'back\slash', E'tab\there');
CREATE TABLE "it's"."Tab;le" ("Col'umn" "it's"."Mood ""quoted""" DEFAULT 'it''s', "$x" int);
CREATE INDEX "idx--not a comment" ON "it's"."Tab;le" ("$x");
CREATE TABLE MixedCase (Id int);
"#;
    let ev = db.assess(migration);
    assert_eq!(ev.verdict, Verdict::NotApplied, "{}", ev.report());
    db.run(migration);
    let ev = db.assess(migration);
    assert_eq!(ev.verdict, Verdict::Applied, "{}", ev.report());
    assert!(ev.present.iter().any(|e| e.object
        == Object::EnumValues {
            schema: "it's".into(),
            enum_name: "Mood \"quoted\"".into(),
            values: vec!["it's".into(), "back\\slash".into(), "tab\there".into()],
        }
        && e.applied_means == Presence::Present));
    assert!(objects(&ev.present).contains(&r#"column "public"."mixedcase"."id" exists"#.to_string()));
}

#[test]
fn a_migration_that_recreates_an_existing_enum_failed_without_applying() {
    let db = Db::start("ev-v1");
    db.run(INIT);
    // Generated against an empty database: it re-creates an enum INIT made. Prisma runs
    // it in one transaction, which fails on the first statement.
    let v1 =
        format!("-- CreateEnum\nCREATE TYPE \"notification_type\" AS ENUM ('GENERAL', 'ATTENDANCE');\n\n{MIGRATION}");
    let err = db.cluster.psql("app", &format!("BEGIN;\n{v1}\nCOMMIT;")).unwrap_err();
    assert!(format!("{err:#}").contains("type \"notification_type\" already exists"), "{err:#}");
    let mut ev = db.assess(&v1);
    assert_eq!(ev.verdict, Verdict::Partial, "{}", ev.report());
    assert!(ev.rerun_blocker.as_deref().unwrap().contains("\"notification_type\" already exists"));
    // The failed attempt's error names it: it predates the migration, which did not apply.
    assert!(ev.discount("notification_type"));
    assert_eq!(ev.verdict, Verdict::NotApplied, "{}", ev.report());
    assert!(ev.present.is_empty());
}

impl Db {
    /// A new database `name` holding `base` then `state`, and the evidence for `migration` there.
    fn assess_state(&self, name: &str, base: &str, state: &str, migration: &str) -> Evidence {
        self.cluster.create_database(name).expect("create database");
        for sql in [base, state] {
            if !sql.is_empty() {
                self.cluster.psql(name, &format!("BEGIN;\n{sql}\nCOMMIT;")).unwrap_or_else(|e| panic!("{e:#}\n{sql}"));
            }
        }
        let target = Target::from_url("DATABASE_URL", &self.cluster.url(name), None).unwrap();
        evidence::assess(&target, migration, "public").unwrap_or_else(|f| panic!("{}", f.message))
    }
}

/// The first `n` statements of `sql`.
fn first(sql: &str, n: usize) -> String {
    statements(sql).into_iter().take(n).collect::<Vec<_>>().join("\n")
}

/// Each migration in three states (nothing ran, all of it ran, its first statements
/// ran) against what `diagnose` says. The partial states are those the dangerous
/// verdicts were found on: an object with the right name and the wrong definition.
#[test]
fn definitions_decide_not_names() {
    let db = Db::start("ev-defs");
    // (label, what earlier migrations made, the migration, statements of it run in the partial state, its verdict)
    let cases: &[(&str, &str, &str, usize, Verdict)] = &[
        (
            // Prisma's incompatible type change: drop the column and add it again.
            "retype",
            r#"CREATE TABLE "Paper" ("id" TEXT NOT NULL, "visibility" TEXT NOT NULL DEFAULT 'ALL', CONSTRAINT "Paper_pkey" PRIMARY KEY ("id"));"#,
            r#"CREATE TYPE "PaperVisibility" AS ENUM ('EVERYONE', 'OWNER');
ALTER TABLE "Paper" DROP COLUMN "visibility",
ADD COLUMN "visibility" "PaperVisibility" NOT NULL DEFAULT 'EVERYONE';"#,
            1,
            Verdict::Partial,
        ),
        (
            // A default set, then changed: only the first statement ran.
            "default",
            r#"CREATE TABLE "Rulebook" ("id" TEXT NOT NULL);"#,
            r#"ALTER TABLE "Rulebook" ADD COLUMN "automate" BOOLEAN NOT NULL DEFAULT true;
ALTER TABLE "Rulebook" ALTER COLUMN "automate" SET DEFAULT false;"#,
            1,
            Verdict::Partial,
        ),
        (
            // A foreign key re-added with another ON DELETE: same name, other definition.
            "fkey",
            r#"CREATE TABLE "Shelf" ("id" TEXT NOT NULL, CONSTRAINT "Shelf_pkey" PRIMARY KEY ("id"));
CREATE TABLE "Book" ("id" TEXT NOT NULL, "shelfId" TEXT, CONSTRAINT "Book_pkey" PRIMARY KEY ("id"));
ALTER TABLE "Book" ADD CONSTRAINT "Book_shelfId_fkey" FOREIGN KEY ("shelfId") REFERENCES "Shelf"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
CREATE INDEX "Book_shelfId_idx" ON "Book"("shelfId");"#,
            r#"ALTER TABLE "Book" DROP CONSTRAINT "Book_shelfId_fkey";
DROP INDEX "Book_shelfId_idx";
ALTER TABLE "Book" ADD CONSTRAINT "Book_shelfId_fkey" FOREIGN KEY ("shelfId") REFERENCES "Shelf"("id") ON DELETE SET NULL ON UPDATE CASCADE;
CREATE UNIQUE INDEX "Book_shelfId_idx" ON "Book"("shelfId");"#,
            3,
            Verdict::Partial,
        ),
    ];
    for (i, (label, base, migration, n, partial)) in cases.iter().enumerate() {
        let none = db.assess_state(&format!("n{i}"), base, "", migration);
        assert_eq!(none.verdict, Verdict::NotApplied, "{label}, nothing ran:\n{}", none.report());
        let all = db.assess_state(&format!("a{i}"), base, migration, migration);
        assert_eq!(all.verdict, Verdict::Applied, "{label}, all of it ran:\n{}", all.report());
        let part = db.assess_state(&format!("p{i}"), base, &first(migration, *n), migration);
        assert_eq!(part.verdict, *partial, "{label}, {n} statement(s) ran:\n{}", part.report());
    }
}

/// `ALTER COLUMN ... TYPE ... USING` converts the stored values: run again, it
/// converts them again (12:00 UTC stored as local time becomes 11:00 under
/// Europe/Berlin, then 10:00). Once the column has the target type, it has applied.
#[test]
fn a_type_change_with_using_that_ran_is_applied_not_rerunnable() {
    let db = Db::start("ev-using");
    let base = r#"CREATE TABLE "Visit" ("id" TEXT NOT NULL, "loggedIn" TIMESTAMP(3) NOT NULL);
INSERT INTO "Visit" VALUES ('a', '2024-06-01 12:00:00');"#;
    let migration = r#"ALTER TABLE "Visit" ALTER COLUMN "loggedIn" SET DATA TYPE TIMESTAMPTZ(3) USING "loggedIn" AT TIME ZONE 'UTC';"#;
    let none = db.assess_state("n", base, "", migration);
    assert_eq!(none.verdict, Verdict::NotApplied, "{}", none.report());
    let all = db.assess_state("a", base, migration, migration);
    assert_eq!(all.verdict, Verdict::Applied, "{}", all.report());
    // What a re-run would do: the same statement succeeds and shifts the value again.
    let shifted = |db_name: &str| {
        db.cluster
            .psql(db_name, "SET TIME ZONE 'Europe/Berlin'; SELECT to_char(\"loggedIn\", 'HH24:MI') FROM \"Visit\";")
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(shifted("a"), "14:00");
    db.cluster.psql("a", &format!("SET TIME ZONE 'Europe/Berlin'; {migration}")).expect("a re-run succeeds");
    assert_ne!(shifted("a"), "14:00", "the re-run changed nothing, so the test shows nothing");
}

/// A file without transaction control runs as one transaction under Prisma, so its
/// data statements ran exactly when its schema changes did; one with `BEGIN ... COMMIT`
/// blocks runs as transactions that commit in order, and its data statements follow
/// the block they are in.
#[test]
fn data_statements_follow_the_schema_changes_of_a_transactional_file() {
    let db = Db::start("ev-tx");
    let base = r#"CREATE TABLE "Ledger" ("id" TEXT NOT NULL, "kind" TEXT);
INSERT INTO "Ledger" VALUES ('a', NULL);"#;
    let migration = r#"ALTER TABLE "Ledger" ADD COLUMN "archived" BOOLEAN NOT NULL DEFAULT false;
UPDATE "Ledger" SET "kind" = 'OTHER' WHERE "kind" IS NULL;
CREATE INDEX "Ledger_kind_idx" ON "Ledger"("kind");"#;
    let none = db.assess_state("n", base, "", migration);
    assert_eq!(none.verdict, Verdict::NotApplied, "{}", none.report());
    assert!(none.rule.as_deref().is_some_and(|r| r.contains("did not commit")), "{}", none.report());
    assert!(none.report().contains("decided by the transactional rule"), "{}", none.report());
    let all = db.assess_state("a", base, migration, migration);
    assert_eq!(all.verdict, Verdict::Applied, "{}", all.report());
    assert!(all.rule.as_deref().is_some_and(|r| r.contains("ran too")), "{}", all.report());
    // A state Prisma cannot leave (the file stopped half-way) is never "applied".
    let part = db.assess_state("p", base, &first(migration, 2), migration);
    assert_eq!(part.verdict, Verdict::Partial, "{}", part.report());

    // One BEGIN ... COMMIT around all of it: still one transaction.
    let own = format!("BEGIN;\n{migration}\nCOMMIT;");
    let ev = db.assess_state("o", base, "", &own);
    assert_eq!(ev.verdict, Verdict::NotApplied, "{}", ev.report());
    assert!(ev.rule.as_deref().is_some_and(|r| r.contains("did not commit")), "{}", ev.report());
    let ev = db.assess_state("oa", base, &own, &own);
    assert_eq!(ev.verdict, Verdict::Applied, "{}", ev.report());

    // Prisma's enum-rewrite shape: a block, then statements in a transaction of their own.
    // The UPDATE is in the block, which commits before the CREATE INDEX runs.
    let blocks = r#"BEGIN;
ALTER TABLE "Ledger" ADD COLUMN "archived" BOOLEAN NOT NULL DEFAULT false;
UPDATE "Ledger" SET "kind" = 'OTHER' WHERE "kind" IS NULL;
COMMIT;
CREATE INDEX "Ledger_kind_idx" ON "Ledger"("kind");"#;
    let first_block = r#"ALTER TABLE "Ledger" ADD COLUMN "archived" BOOLEAN NOT NULL DEFAULT false;
UPDATE "Ledger" SET "kind" = 'OTHER' WHERE "kind" IS NULL;"#;
    let ev = db.assess_state("b0", base, "", blocks);
    assert_eq!(ev.verdict, Verdict::NotApplied, "{}", ev.report());
    assert!(ev.rule.as_deref().is_some_and(|r| r.contains("2 transactions")), "{}", ev.report());
    let ev = db.assess_state("b2", base, blocks, blocks);
    assert_eq!(ev.verdict, Verdict::Applied, "{}", ev.report());
    // The block committed and the index failed: the UPDATE ran, so neither resolve is safe.
    let ev = db.assess_state("b1", base, first_block, blocks);
    assert_eq!(ev.verdict, Verdict::Partial, "{}", ev.report());
    assert_eq!(db.cluster.psql("b1", r#"SELECT "kind" FROM "Ledger";"#).unwrap().trim(), "OTHER");
    // Only data statements: nothing to follow.
    let data = r#"UPDATE "Ledger" SET "kind" = 'OTHER' WHERE "kind" IS NULL;"#;
    assert_eq!(db.assess_state("d", base, "", data).verdict, Verdict::Unknown);
}

/// Each line of the evidence says what is true of the database now.
#[test]
fn evidence_lines_read_true_on_their_own() {
    let db = Db::start("ev-lines");
    let base = r#"CREATE TABLE "website" ("id" TEXT NOT NULL, "verified_at" TIMESTAMP(3));"#;
    let migration = r#"ALTER TABLE "website" DROP COLUMN "verified_at";
ALTER TABLE "website" ADD COLUMN "owner" TEXT;"#;
    let ev = db.assess_state("n", base, "", migration);
    let details = ev.details();
    assert!(details.contains(r#"    column "public"."website"."verified_at" exists (line 1)"#), "{details}");
    assert!(details.contains(r#"    column "public"."website"."owner" does not exist (line 2)"#), "{details}");
    assert!(!details.contains(r#""verified_at" does not exist"#), "{details}");
}

/// Views and functions are checked in the catalogs: a view by its presence, a function
/// by its arguments and its body (`prosrc`, stored verbatim), so that a file creating
/// them with a table change is decided in each state.
#[test]
fn views_and_functions_are_checked() {
    let db = Db::start("ev-views");
    let base = r#"CREATE TABLE "Shop" ("id" TEXT NOT NULL, "name" TEXT NOT NULL, CONSTRAINT "Shop_pkey" PRIMARY KEY ("id"));
CREATE VIEW "ShopName" AS SELECT "id", "name" FROM "Shop";
CREATE FUNCTION shop_label(shop "Shop", prefix text) RETURNS text AS $$ SELECT prefix || shop.name $$ LANGUAGE sql STABLE;"#;
    let migration = r#"ALTER TABLE "Shop" ADD COLUMN "open" BOOLEAN NOT NULL DEFAULT true;
CREATE VIEW "OpenShop" AS SELECT "id" FROM "Shop" WHERE "open";
CREATE FUNCTION shop_count(only_open boolean) RETURNS bigint AS $$
  SELECT count(*) FROM "Shop" WHERE "open" OR NOT only_open
$$ LANGUAGE sql STABLE;
CREATE FUNCTION shop_names() RETURNS SETOF text AS 'SELECT "name" FROM "Shop"' LANGUAGE sql STABLE PARALLEL SAFE;"#;
    let none = db.assess_state("n", base, "", migration);
    assert_eq!(none.verdict, Verdict::NotApplied, "{}", none.report());
    assert!(none.unknown.is_empty() && none.replaced.is_empty(), "{}", none.report());
    let all = db.assess_state("a", base, migration, migration);
    assert_eq!(all.verdict, Verdict::Applied, "{}", all.report());
    assert!(all.rule.is_none(), "checked, not assumed: {}", all.report());
    let part = db.assess_state("p", base, &first(migration, 2), migration);
    assert_eq!(part.verdict, Verdict::Partial, "{}", part.report());
    assert!(objects(&part.missing).iter().any(|m| m.contains("\"shop_count\"(bool)")), "{}", part.report());
    // The function is missing: its body is not listed apart.
    let details = part.details();
    assert!(details.contains(r#"function "public"."shop_count"(bool) does not exist (line 3)"#), "{details}");
    assert!(!details.contains("does not have the body"), "{details}");

    // The same function name with other arguments is another function.
    let other = db.assess_state("o", base, "SET check_function_bodies = off;\nCREATE FUNCTION shop_count(only_open text) RETURNS bigint AS $$\n  SELECT count(*) FROM \"Shop\" WHERE \"open\" OR NOT only_open\n$$ LANGUAGE sql STABLE;", migration);
    assert!(objects(&other.present).iter().all(|p| !p.contains("shop_count")), "{}", other.report());

    // A view where a table of that name is: in the way, and a re-run fails on it.
    let table = db.assess_state("t", base, r#"CREATE TABLE "OpenShop" ("id" TEXT);"#, migration);
    assert_eq!(table.verdict, Verdict::Partial, "{}", table.report());
    assert!(objects(&table.invalid).iter().any(|o| o.contains("view \"public\".\"OpenShop\"")), "{}", table.report());
    let err = db.cluster.psql("t", migration).unwrap_err();
    assert!(format!("{err:#}").contains("already exists"), "{err:#}");
}

/// `CREATE OR REPLACE FUNCTION` with a new body: the old body is "not applied", the
/// new one "applied"; its body is compared, not its name.
#[test]
fn a_replaced_function_is_judged_by_its_body() {
    let db = Db::start("ev-replace");
    let base = r#"CREATE TABLE "Ticket" ("id" TEXT NOT NULL, "seen" INTEGER NOT NULL DEFAULT 0);
CREATE FUNCTION bump_ticket() RETURNS trigger AS $$
BEGIN
  NEW."seen" := NEW."seen" + 1;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;"#;
    let migration = r#"CREATE OR REPLACE FUNCTION bump_ticket() RETURNS trigger AS $$
BEGIN
  NEW."seen" := NEW."seen" + 2;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION ticket_ids() RETURNS SETOF text ROWS 10 COST 5 AS $$ SELECT "id" FROM "Ticket" $$ LANGUAGE sql STABLE;
CREATE TRIGGER "Ticket_bump" BEFORE UPDATE ON "Ticket" FOR EACH ROW EXECUTE FUNCTION bump_ticket();"#;
    let none = db.assess_state("n", base, "", migration);
    assert_eq!(none.verdict, Verdict::NotApplied, "{}", none.report());
    assert!(objects(&none.missing).iter().any(|m| m.contains("bump_ticket")), "{}", none.report());
    let all = db.assess_state("a", base, migration, migration);
    assert_eq!(all.verdict, Verdict::Applied, "{}", all.report());
    // The function replaced, the trigger not yet made: a re-run gets through and makes it.
    let part = db.assess_state("p", base, &first(migration, 1), migration);
    assert_eq!(part.verdict, Verdict::NotApplied, "{}", part.report());
    db.cluster.psql("p", migration).expect("the re-run the verdict promises");
    // Only the body changed back: the function is there by name but not as the file makes it.
    let undone = db.assess_state(
        "u",
        base,
        &format!(
            "{migration}\n{}",
            &base[base.find("CREATE FUNCTION").unwrap()..].replacen("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
        ),
        migration,
    );
    assert_ne!(undone.verdict, Verdict::Applied, "{}", undone.report());
}

/// `DROP VIEW IF EXISTS` and `DROP FUNCTION IF EXISTS` followed by the new definition:
/// Prisma-era hand-written migrations that rebuild a view or function.
#[test]
fn drop_view_if_exists_and_rebuilt_functions() {
    let db = Db::start("ev-dropview");
    let base = r#"CREATE TABLE "Page" ("id" TEXT NOT NULL, "title" TEXT NOT NULL);
CREATE VIEW "PageTitle" AS SELECT "id", "title" FROM "Page";
CREATE FUNCTION page_copy(page_id text) RETURNS text AS $$ SELECT page_id $$ LANGUAGE sql;"#;
    // Only a drop: gone is applied, there is not applied.
    let drop = r#"DROP VIEW IF EXISTS "PageTitle";"#;
    assert_eq!(db.assess_state("d1", base, "", drop).verdict, Verdict::NotApplied);
    assert_eq!(db.assess_state("d2", base, drop, drop).verdict, Verdict::Applied);
    // The same name on a table: DROP VIEW fails on it ("is not a view").
    let on_table = db.assess_state("d3", r#"CREATE TABLE "PageTitle" ("id" TEXT);"#, "", drop);
    assert_eq!(on_table.verdict, Verdict::Partial, "{}", on_table.report());
    assert!(db.cluster.psql("d3", drop).is_err());
    // A view replaced by a table of its name: the view is not in the way of a re-run.
    let to_table = r#"DROP VIEW "PageTitle";
CREATE TABLE "PageTitle" ("id" TEXT NOT NULL, "title" TEXT NOT NULL);"#;
    let n = db.assess_state("v1", base, "", to_table);
    assert_eq!(n.verdict, Verdict::NotApplied, "{}", n.report());
    let a = db.assess_state("v2", base, to_table, to_table);
    assert_eq!(a.verdict, Verdict::Applied, "{}", a.report());

    // Guarded throughout: all in place, a re-run changes nothing but sets the view's query again.
    let guarded = r#"ALTER TABLE "Page" ADD COLUMN IF NOT EXISTS "draft" BOOLEAN NOT NULL DEFAULT false;
CREATE OR REPLACE VIEW "PageTitle" AS SELECT "id", "title", "draft" FROM "Page";"#;
    assert_eq!(db.assess_state("g1", base, "", guarded).verdict, Verdict::NotApplied);
    let g = db.assess_state("g2", base, guarded, guarded);
    assert_eq!(g.verdict, Verdict::NotApplied, "{}", g.report());
    assert!(g.rule.is_some(), "{}", g.report());
    db.cluster.psql("g2", guarded).expect("the re-run the verdict promises");

    let migration = r#"ALTER TABLE "Page" ADD COLUMN "slug" TEXT;
DROP VIEW IF EXISTS "PageTitle";
CREATE VIEW "PageTitle" AS SELECT "id", "title", "slug" FROM "Page";
DROP FUNCTION IF EXISTS page_copy;
CREATE FUNCTION page_copy(page_id text, new_title text) RETURNS text AS $$ SELECT page_id || new_title $$ LANGUAGE sql;"#;
    let none = db.assess_state("n", base, "", migration);
    assert_eq!(none.verdict, Verdict::NotApplied, "{}", none.report());
    let all = db.assess_state("a", base, migration, migration);
    assert_eq!(all.verdict, Verdict::Applied, "{}", all.report());
    // Up to the new view: the function is still the old one.
    let part = db.assess_state("p", base, &first(migration, 3), migration);
    assert_ne!(part.verdict, Verdict::Applied, "{}", part.report());
    // Only the table change ran (a state a failed Prisma deploy cannot leave): the view
    // has the old query, which presence alone cannot tell, so never "applied".
    let col = db.assess_state("c", base, &first(migration, 1), migration);
    assert_ne!(col.verdict, Verdict::Applied, "{}", col.report());
}

/// Row level security, storage parameters and grants do the same again when run again:
/// they do not make a file unknown, and a file of only them is safe to run again. A
/// policy is looked up by name on its table.
#[test]
fn settings_and_grants_are_not_in_the_way() {
    let db = Db::start("ev-grants");
    db.cluster.psql("app", r#"CREATE ROLE "reporting";"#).unwrap(); // roles belong to the cluster
    let base = r#"CREATE TABLE "Account" ("id" TEXT NOT NULL);"#;
    let migration = r#"CREATE TABLE "Audit" ("id" TEXT NOT NULL, "at" TIMESTAMP(3) NOT NULL);
ALTER TABLE "Audit" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "Audit" SET (fillfactor = 90), REPLICA IDENTITY FULL;
CREATE POLICY "audit_read" ON "Audit" FOR SELECT TO "reporting" USING (true);
GRANT SELECT ON "Audit" TO "reporting";"#;
    assert_eq!(db.assess_state("n", base, "", migration).verdict, Verdict::NotApplied);
    let all = db.assess_state("a", base, migration, migration);
    assert_eq!(all.verdict, Verdict::Applied, "{}", all.report());
    assert!(all.report().contains(r#"policy "audit_read" on "public"."Audit" exists"#), "{}", all.report());
    // The table made, the policy not: a re-run fails on the table.
    let ev = db.assess_state("p", base, &first(migration, 3), migration);
    assert_eq!(ev.verdict, Verdict::Partial, "{}", ev.report());
    let drop = r#"DROP POLICY IF EXISTS "audit_read" ON "Audit";"#;
    // Already gone: every change is in place and a re-run would change nothing.
    assert_eq!(db.assess_state("d", base, "", drop).verdict, Verdict::Applied);
    let ev = db.assess_state("d2", base, migration, drop);
    assert_eq!(ev.verdict, Verdict::NotApplied, "{}", ev.report());
    let grants = r#"GRANT SELECT ON "Account" TO "reporting"; ALTER TABLE "Account" ENABLE ROW LEVEL SECURITY;"#;
    let ev = db.assess_state("g", base, grants, grants);
    assert_eq!(ev.verdict, Verdict::NotApplied, "{}", ev.report());
    // And it is: running it again on that state succeeds.
    db.cluster.psql("g", grants).expect("a re-run succeeds");
}

/// Prisma's migration to an autoincrement on an existing column: a sequence, the
/// default, and `ALTER SEQUENCE ... OWNED BY` (a setting a re-run sets again).
#[test]
fn a_new_autoincrement_is_decided() {
    let db = Db::start("ev-seq");
    let base = r#"CREATE TABLE "Counter" ("id" TEXT NOT NULL, "n" INTEGER NOT NULL);"#;
    let migration = r#"-- AlterTable
CREATE SEQUENCE "Counter_n_seq";
ALTER TABLE "Counter" ALTER COLUMN "n" SET DEFAULT nextval('"Counter_n_seq"');
ALTER SEQUENCE "Counter_n_seq" OWNED BY "Counter"."n";"#;
    let none = db.assess_state("n", base, "", migration);
    assert_eq!(none.verdict, Verdict::NotApplied, "{}", none.report());
    let all = db.assess_state("a", base, migration, migration);
    assert_eq!(all.verdict, Verdict::Applied, "{}", all.report());
}

/// Each of `shapes`, applied for real after `base`, reads as applied; before it, as not applied.
#[track_caller]
fn assert_shapes(db: &Db, base: &str, shapes: &[&str]) {
    let mut wrong = Vec::new();
    for (i, shape) in shapes.iter().enumerate() {
        let all = db.assess_state(&format!("a{i}"), base, shape, shape);
        let none = db.assess_state(&format!("n{i}"), base, "", shape);
        if all.verdict != Verdict::Applied || none.verdict != Verdict::NotApplied {
            wrong.push(format!("{shape}\n  A: {}\n  N: {}", all.report(), none.summary()));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Column definitions in the shapes Prisma writes them, each applied for real: the
/// server prints defaults, types and constraints its own way, and every one of them
/// must still read as the migration's own (applied), and as not there before.
#[test]
fn prisma_column_shapes_compare_as_the_server_prints_them() {
    let db = Db::start("ev-shapes");
    let base = r#"CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');
CREATE TABLE "T" ("id" TEXT NOT NULL, CONSTRAINT "T_pkey" PRIMARY KEY ("id"));"#;
    let shapes = [
        r#"ALTER TABLE "T" ADD COLUMN "a" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" TIMESTAMPTZ(6) DEFAULT now();"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" UUID NOT NULL DEFAULT gen_random_uuid();"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" JSONB NOT NULL DEFAULT '{}';"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" JSONB DEFAULT '[]';"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" TEXT[] DEFAULT ARRAY[]::TEXT[];"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" "Role"[] DEFAULT ARRAY['USER']::"Role"[];"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" "Role" NOT NULL DEFAULT 'USER';"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" DECIMAL(65,30) NOT NULL DEFAULT 0.00;"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" DOUBLE PRECISION NOT NULL DEFAULT 0.5;"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" BIGINT NOT NULL DEFAULT 0;"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" INTEGER NOT NULL DEFAULT -1;"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" BOOLEAN NOT NULL DEFAULT false;"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" TEXT NOT NULL DEFAULT '';"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" TEXT NOT NULL DEFAULT 'it''s';"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" VARCHAR(255);"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" CHAR(2) DEFAULT 'en';"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" TIMESTAMP(3) DEFAULT (now() + '7 days'::interval);"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" DATE DEFAULT '2020-01-01';"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" BYTEA;"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" INET;"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" SERIAL NOT NULL;"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" BIGSERIAL NOT NULL;"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" TEXT NOT NULL DEFAULT 'x', ADD CONSTRAINT "T_a_check" CHECK (char_length("a") <= 10);"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" TEXT; CREATE UNIQUE INDEX "T_a_key" ON "T"("a") WHERE ("a" IS NOT NULL);"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" TEXT; CREATE INDEX "T_a_idx" ON "T" USING GIN (to_tsvector('english', coalesce("a", '')));"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" TEXT; CREATE INDEX "T_a_idx" ON "T"("a" DESC NULLS LAST);"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" TEXT; CREATE INDEX "T_a_idx" ON "T"(lower("a"));"#,
        r#"ALTER TABLE "T" ADD COLUMN "a" TEXT NOT NULL; ALTER TABLE "T" ADD CONSTRAINT "T_a_fkey" FOREIGN KEY ("a") REFERENCES "T"("id") ON DELETE SET NULL ON UPDATE CASCADE;"#,
    ];
    assert_shapes(&db, base, &shapes);
}

/// `ALTER COLUMN` changes in the shapes Prisma writes them (see the test above).
#[test]
fn prisma_alter_column_shapes_compare_as_the_server_prints_them() {
    let db = Db::start("ev-alter-shapes");
    let base = r#"CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');
CREATE TABLE "T" ("id" TEXT NOT NULL, "n" INTEGER NOT NULL DEFAULT 1, "s" TEXT, "r" TEXT NOT NULL DEFAULT 'USER',
  "at" TIMESTAMP(3), CONSTRAINT "T_pkey" PRIMARY KEY ("id"));
CREATE INDEX "T_s_idx" ON "T"("s");"#;
    let shapes = [
        r#"ALTER TABLE "T" ALTER COLUMN "n" SET DATA TYPE BIGINT;"#,
        r#"ALTER TABLE "T" ALTER COLUMN "s" SET DATA TYPE VARCHAR(255);"#,
        r#"ALTER TABLE "T" ALTER COLUMN "n" DROP DEFAULT;"#,
        r#"ALTER TABLE "T" ALTER COLUMN "n" SET DEFAULT 5;"#,
        r#"ALTER TABLE "T" ALTER COLUMN "s" SET NOT NULL;"#,
        r#"ALTER TABLE "T" ALTER COLUMN "n" DROP NOT NULL;"#,
        r#"ALTER TABLE "T" ALTER COLUMN "at" SET DATA TYPE TIMESTAMPTZ(3) USING "at" AT TIME ZONE 'UTC';"#,
        r#"ALTER TABLE "T" ALTER COLUMN "r" DROP DEFAULT, ALTER COLUMN "r" SET DATA TYPE "Role" USING ("r"::text::"Role"), ALTER COLUMN "r" SET DEFAULT 'USER';"#,
        r#"ALTER INDEX "T_s_idx" RENAME TO "T_s_index";"#,
        r#"ALTER TABLE "T" RENAME CONSTRAINT "T_pkey" TO "T_primary";"#,
        r#"ALTER TABLE "T" RENAME COLUMN "s" TO "subject";"#,
        r#"ALTER TABLE "T" DROP CONSTRAINT "T_pkey", ADD CONSTRAINT "T_pkey" PRIMARY KEY ("id", "n");"#,
        r#"DROP INDEX "T_s_idx"; CREATE UNIQUE INDEX "T_s_key" ON "T"("s");"#,
    ];
    assert_shapes(&db, base, &shapes);
    // A type change by drop and add: the file does not say what type the column had, so
    // with the new type in place nothing shows that it ran (it would reset the column's
    // values if run again): unknown, never applied. Without it, not applied.
    let retype = r#"ALTER TABLE "T" DROP COLUMN "s", ADD COLUMN "s" INTEGER;"#;
    assert_eq!(db.assess_state("ra", base, retype, retype).verdict, Verdict::Unknown);
    assert_eq!(db.assess_state("rn", base, "", retype).verdict, Verdict::NotApplied);
}

/// Enum changes in the shapes Prisma (and hand-written fixes) write them (see above).
#[test]
fn prisma_enum_shapes_compare_as_the_server_prints_them() {
    let db = Db::start("ev-enum-shapes");
    let base = r#"CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');
CREATE TABLE "T" ("id" TEXT NOT NULL, "role" "Role" NOT NULL DEFAULT 'USER');"#;
    let shapes = [
        r#"CREATE TYPE "Plan" AS ENUM ('FREE', 'PRO');"#,
        r#"ALTER TYPE "Role" ADD VALUE 'OWNER';"#,
        r#"ALTER TYPE "Role" ADD VALUE 'GUEST' BEFORE 'USER';"#,
        r#"ALTER TYPE "Role" RENAME VALUE 'ADMIN' TO 'ADMINISTRATOR';"#,
        r#"CREATE TYPE "Plan" AS ENUM ('FREE', 'PRO');
ALTER TABLE "T" ADD COLUMN "plan" "Plan" NOT NULL DEFAULT 'FREE';"#,
        r#"BEGIN;
CREATE TYPE "Role_new" AS ENUM ('USER');
ALTER TABLE "T" ALTER COLUMN "role" DROP DEFAULT;
ALTER TABLE "T" ALTER COLUMN "role" TYPE "Role_new" USING ("role"::text::"Role_new");
ALTER TYPE "Role" RENAME TO "Role_old";
ALTER TYPE "Role_new" RENAME TO "Role";
DROP TYPE "Role_old";
ALTER TABLE "T" ALTER COLUMN "role" SET DEFAULT 'USER';
COMMIT;
ALTER TABLE "T" ADD COLUMN "note" TEXT;"#,
    ];
    assert_shapes(&db, base, &shapes);
}

/// Table-level shapes Prisma writes (see above): a relation table and Prisma 5's change
/// of its unique index into a primary key, a composite unique, a foreign key dropped and
/// added with another action, a table rename.
#[test]
fn prisma_table_shapes_compare_as_the_server_prints_them() {
    let db = Db::start("ev-table-shapes");
    let base = r#"CREATE TABLE "A" ("id" TEXT NOT NULL, CONSTRAINT "A_pkey" PRIMARY KEY ("id"));
CREATE TABLE "B" ("id" TEXT NOT NULL, "aId" TEXT, CONSTRAINT "B_pkey" PRIMARY KEY ("id"));
ALTER TABLE "B" ADD CONSTRAINT "B_aId_fkey" FOREIGN KEY ("aId") REFERENCES "A"("id") ON DELETE SET NULL ON UPDATE CASCADE;
CREATE TABLE "_AToB" ("A" TEXT NOT NULL, "B" TEXT NOT NULL);
CREATE UNIQUE INDEX "_AToB_AB_unique" ON "_AToB"("A", "B");
CREATE INDEX "_AToB_B_index" ON "_AToB"("B");"#;
    let shapes = [
        r#"-- AlterTable
ALTER TABLE "_AToB" ADD CONSTRAINT "_AToB_AB_pkey" PRIMARY KEY ("A", "B");

-- DropIndex
DROP INDEX "_AToB_AB_unique";"#,
        r#"CREATE TABLE "C" (
    "id" SERIAL NOT NULL,
    "aId" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "C_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "C_aId_kind_key" ON "C"("aId", "kind");

-- AddForeignKey
ALTER TABLE "C" ADD CONSTRAINT "C_aId_fkey" FOREIGN KEY ("aId") REFERENCES "A"("id") ON DELETE RESTRICT ON UPDATE CASCADE;"#,
        r#"-- DropForeignKey
ALTER TABLE "B" DROP CONSTRAINT "B_aId_fkey";

-- AddForeignKey
ALTER TABLE "B" ADD CONSTRAINT "B_aId_fkey" FOREIGN KEY ("aId") REFERENCES "A"("id") ON DELETE CASCADE ON UPDATE CASCADE;"#,
        r#"ALTER TABLE "B" RENAME TO "Bee";
ALTER TABLE "Bee" RENAME CONSTRAINT "B_pkey" TO "Bee_pkey";"#,
    ];
    assert_shapes(&db, base, &shapes);
}

/// CHECK constraints and indexes in the forms people write, which the server prints
/// rewritten (`BETWEEN`, `IN`, `LIKE`, `!=`, casts) (see above). Not covered: a literal
/// the server prints in its type's own format (`'2020-01-01'` compared with a timestamp
/// column is printed `'2020-01-01 00:00:00'::timestamp without time zone`), which
/// reads as another definition: "partial", wrong but safe.
#[test]
fn check_constraints_and_indexes_compare_as_the_server_prints_them() {
    let db = Db::start("ev-check-shapes");
    let base = r#"CREATE TABLE "T" ("id" TEXT NOT NULL, "n" INTEGER, "p" DECIMAL(10,2), "s" TEXT, "at" TIMESTAMP(3));"#;
    let shapes = [
        r#"ALTER TABLE "T" ADD CONSTRAINT "c" CHECK ("n" BETWEEN 1 AND 5);"#,
        r#"ALTER TABLE "T" ADD CONSTRAINT "c" CHECK ("s" IN ('a', 'b'));"#,
        r#"ALTER TABLE "T" ADD CONSTRAINT "c" CHECK ("s" NOT IN ('a', 'b'));"#,
        r#"ALTER TABLE "T" ADD CONSTRAINT "c" CHECK ("s" LIKE 'x%');"#,
        r#"ALTER TABLE "T" ADD CONSTRAINT "c" CHECK ("s" ILIKE 'x%');"#,
        r#"ALTER TABLE "T" ADD CONSTRAINT "c" CHECK ("s" != '');"#,
        r#"ALTER TABLE "T" ADD CONSTRAINT "c" CHECK ("p" >= 0);"#,
        r#"ALTER TABLE "T" ADD CONSTRAINT "c" CHECK ("n" IS NOT NULL OR "s" IS NOT NULL);"#,
        r#"ALTER TABLE "T" ADD CONSTRAINT "c" CHECK (num_nonnulls("n", "s") = 1);"#,
        r#"ALTER TABLE "T" ADD CONSTRAINT "c" CHECK (NOT ("n" < 0));"#,
        r#"ALTER TABLE "T" ADD CONSTRAINT "c" CHECK ("s" ~ '^[a-z]+$') NOT VALID;"#,
        r#"CREATE INDEX "i" ON "T"("s") INCLUDE ("n");"#,
        r#"CREATE INDEX "i" ON "T" USING hash ("s");"#,
        r#"CREATE INDEX "i" ON "T"("s" text_pattern_ops);"#,
        r#"CREATE INDEX "i" ON "T"("n") WHERE "s" IN ('a', 'b');"#,
        r#"CREATE INDEX "i" ON "T"("n") WHERE "at" IS NULL AND "n" > 0;"#,
        r#"CREATE UNIQUE INDEX "i" ON "T"(lower("s"), "n");"#,
        r#"CREATE INDEX "i" ON "T" USING brin ("at");"#,
    ];
    assert_shapes(&db, base, &shapes);
}
