//! Unit tests: what the analyser reads out of Prisma-shaped and hand-written SQL, and
//! the verdict rules over made-up catalog states.

use std::collections::HashMap;

use super::objects::TypeName;
use super::*;

fn t(name: &str) -> Object {
    Object::Table { schema: "public".into(), name: name.into() }
}
fn col(table: &str, name: &str) -> Object {
    Object::Column { schema: "public".into(), table: table.into(), name: name.into() }
}
fn con(table: &str, name: &str) -> Object {
    Object::Constraint { schema: "public".into(), table: table.into(), name: name.into() }
}
fn idx(name: &str) -> Object {
    Object::Index { schema: "public".into(), name: name.into() }
}
fn en(name: &str) -> Object {
    Object::Enum { schema: "public".into(), name: name.into() }
}
fn ev(e: &str, v: &str) -> Object {
    Object::EnumValue { schema: "public".into(), enum_name: e.into(), value: v.into() }
}
fn evs(e: &str, vs: &[&str]) -> Object {
    Object::EnumValues {
        schema: "public".into(),
        enum_name: e.into(),
        values: vs.iter().map(|v| v.to_string()).collect(),
    }
}

/// A column property or a definition rather than an object of its own.
fn is_definition(o: &Object) -> bool {
    o.is_column_property()
}

fn expect_of<'a>(a: &'a Analysis, o: &Object) -> &'a Expectation {
    a.expectations
        .iter()
        .find(|e| e.object == *o)
        .unwrap_or_else(|| panic!("no expectation for {o}: {:#?}", a.expectations))
}

fn has(a: &Analysis, o: &Object, p: Presence) -> bool {
    a.expectations.iter().any(|e| e.object == *o && e.applied_means == p)
}

/// The catalogs as they are after the migration applied.
fn applied_world(a: &Analysis) -> HashMap<Object, Found> {
    let mut w: HashMap<Object, Found> = a.lookups.iter().map(|o| (o.clone(), Found::Absent)).collect();
    for e in &a.expectations {
        w.insert(e.object.clone(), e.applied_means.into());
    }
    w
}

/// The catalogs after `sql` ran on an empty database (what it leaves present).
fn after(sql: &str) -> HashMap<Object, Found> {
    let a = analyse(sql);
    assert!(a.unknown.is_empty(), "{:?}", a.unknown);
    a.expectations
        .iter()
        .filter(|e| e.applied_means == Presence::Present)
        .map(|e| (e.object.clone(), Found::Present))
        .collect()
}

/// Only `present` exist.
fn world(present: &[Object]) -> HashMap<Object, Found> {
    present.iter().map(|o| (o.clone(), Found::Present)).collect()
}

fn ty(name: &str) -> Object {
    Object::Type { schema: "public".into(), name: name.into() }
}

/// What [`PRISMA`] changes that earlier migrations created.
fn prisma_base() -> Vec<Object> {
    vec![ty("notification_type"), en("notification_type"), t("notes"), t("users")]
}

const PRISMA: &str = r#"-- CreateEnum
CREATE TYPE "attendance_status" AS ENUM ('PRESENT', 'ABSENT', 'LATE');

-- AlterEnum
ALTER TYPE "notification_type" ADD VALUE 'LIBRARY';

-- CreateTable
CREATE TABLE "library_books" (
    "id" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "status" "library_issue_status" NOT NULL DEFAULT 'AVAILABLE',
    "cost" DECIMAL(10,2),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "library_books_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "library_books_isbn_key" ON "library_books"("isbn");

-- AddForeignKey
ALTER TABLE "notes" ADD CONSTRAINT "notes_author_id_fkey" FOREIGN KEY ("author_id") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
"#;

#[test]
fn prisma_generated_statements() {
    let a = analyse(PRISMA);
    assert!(a.unknown.is_empty(), "{:?}", a.unknown);
    let want = [
        en("attendance_status"),
        evs("attendance_status", &["PRESENT", "ABSENT", "LATE"]),
        ev("notification_type", "LIBRARY"),
        t("library_books"),
        col("library_books", "id"),
        col("library_books", "title"),
        col("library_books", "status"),
        col("library_books", "cost"),
        col("library_books", "created_at"),
        con("library_books", "library_books_pkey"),
        idx("library_books_isbn_key"),
        con("notes", "notes_author_id_fkey"),
    ];
    // Objects first; their definitions are checked below.
    let got: Vec<&Object> = a.expectations.iter().map(|e| &e.object).filter(|o| !is_definition(o)).collect();
    assert_eq!(got, want.iter().collect::<Vec<_>>());
    assert!(a.expectations.iter().all(|e| !e.guarded));
    let described: Vec<String> = a
        .expectations
        .iter()
        .filter(|e| is_definition(&e.object))
        .map(|e| e.object.describe(e.applied_means))
        .collect();
    for want in [
        r#"column "public"."library_books"."id" has type text"#,
        r#"column "public"."library_books"."id" is NOT NULL"#,
        r#"column "public"."library_books"."id" has no default"#,
        r#"column "public"."library_books"."status" has the default 'AVAILABLE'"#,
        r#"column "public"."library_books"."cost" has type numeric(10,2)"#,
        r#"column "public"."library_books"."cost" allows NULL"#,
        r#"column "public"."library_books"."created_at" has the default current_timestamp"#,
        r#"constraint "library_books_pkey" on "public"."library_books" has the definition primary key id"#,
        r#"index "public"."library_books_isbn_key" has the definition unique using btree isbn"#,
        r#"constraint "notes_author_id_fkey" on "public"."notes" has the definition foreign key author_id references users id delete restrict update cascade"#,
    ] {
        assert!(described.iter().any(|d| d == want), "{want}: {described:#?}");
    }
    let e = expect_of(&a, &idx("library_books_isbn_key"));
    assert_eq!(e.line, 19);
    assert_eq!(e.statement, r#"CREATE UNIQUE INDEX "library_books_isbn_key" ON "library_books"("isbn")"#);
    assert_eq!(e.to_string(), r#"index "public"."library_books_isbn_key" exists (line 19)"#);
}

#[test]
fn guarded_forms_are_expectations_marked_guarded() {
    let sql = r#"
DO $$ BEGIN
    CREATE TYPE "gallery_privacy" AS ENUM ('PUBLIC', 'PRIVATE');
EXCEPTION
    WHEN duplicate_object THEN null;
END $$;
ALTER TYPE "notification_type" ADD VALUE IF NOT EXISTS 'CIRCULAR';
CREATE TABLE IF NOT EXISTS "faqs" ("id" TEXT NOT NULL, CONSTRAINT "faqs_pkey" PRIMARY KEY ("id"));
CREATE INDEX IF NOT EXISTS "faqs_id_idx" ON "faqs"("id");
DO $$ BEGIN
    ALTER TABLE "faqs" ADD CONSTRAINT "faqs_x_fkey" FOREIGN KEY ("id") REFERENCES "users"("id");
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
"#;
    let a = analyse(sql);
    assert!(a.unknown.is_empty(), "{:?}", a.unknown);
    for o in [
        en("gallery_privacy"),
        ev("notification_type", "CIRCULAR"),
        t("faqs"),
        col("faqs", "id"),
        idx("faqs_id_idx"),
        con("faqs", "faqs_x_fkey"),
    ] {
        let e = expect_of(&a, &o);
        assert!(e.guarded, "{e}");
        assert_eq!(e.applied_means, Presence::Present);
    }
    assert_eq!(expect_of(&a, &en("gallery_privacy")).line, 3);
}

#[test]
fn identifiers_schemas_and_generated_names() {
    let sql = r#"CREATE TABLE Foo."Bar" (ID int PRIMARY KEY, "MixedCase" text);
CREATE TABLE t2 (a int, PRIMARY KEY (a), UNIQUE (a), CHECK (a > 0));
CREATE TABLE "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" (x int);
ALTER TABLE t2 ADD COLUMN b serial CONSTRAINT b_key UNIQUE, ADD COLUMN IF NOT EXISTS c int;"#;
    let a = analyse_in(sql, "tenant");
    assert!(a.unknown.is_empty(), "{:?}", a.unknown);
    let o = |s: &str| s.to_string();
    assert!(has(&a, &Object::Table { schema: o("foo"), name: o("Bar") }, Presence::Present));
    assert!(has(&a, &Object::Column { schema: o("foo"), table: o("Bar"), name: o("id") }, Presence::Present));
    assert!(has(&a, &Object::Column { schema: o("foo"), table: o("Bar"), name: o("MixedCase") }, Presence::Present));
    assert!(has(&a, &Object::Constraint { schema: o("foo"), table: o("Bar"), name: o("Bar_pkey") }, Presence::Present));
    assert!(has(
        &a,
        &Object::Constraint { schema: o("tenant"), table: o("t2"), name: o("t2_pkey") },
        Presence::Present
    ));
    let long = "a".repeat(63);
    assert!(has(&a, &Object::Table { schema: o("tenant"), name: long.clone() }, Presence::Present));
    assert_eq!(statements::pkey_name(&long), format!("{}_pkey", "a".repeat(58)));
    assert!(has(&a, &Object::Constraint { schema: o("tenant"), table: o("t2"), name: o("b_key") }, Presence::Present));
    let c = a.expectations.iter().find(|e| matches!(&e.object, Object::Column { name, .. } if name == "c")).unwrap();
    assert!(c.guarded);
    // Only the named constraints and the primary key: the unnamed UNIQUE and CHECK are not looked up.
    let constraints = a.expectations.iter().filter(|e| matches!(e.object, Object::Constraint { .. })).count();
    assert_eq!(constraints, 3);
}

#[test]
fn drops_renames_and_column_properties() {
    let sql = r#"ALTER TABLE "users" DROP COLUMN "legacy", DROP CONSTRAINT IF EXISTS "users_legacy_key";
ALTER TABLE "users" RENAME COLUMN "name" TO "full_name";
ALTER TABLE "users" RENAME CONSTRAINT "a" TO "b";
ALTER INDEX "users_email_idx" RENAME TO "users_email_key";
ALTER TABLE ONLY "users" ALTER COLUMN "email" SET NOT NULL, ALTER "role" DROP DEFAULT, ALTER COLUMN "age" DROP NOT NULL;
ALTER TABLE "users" ALTER COLUMN "score" SET DEFAULT 0;
ALTER TABLE "users" ALTER COLUMN "bio" SET DATA TYPE VARCHAR(255);
DROP INDEX IF EXISTS "old_idx", "older_idx";
DROP TABLE "old_table" CASCADE;
DROP TYPE "old_enum";
CREATE SEQUENCE "counter_seq" START 1;
DROP SEQUENCE IF EXISTS "gone_seq";
CREATE EXTENSION IF NOT EXISTS "pg_trgm" WITH SCHEMA public;
ALTER TYPE "mood" RENAME VALUE 'sad' TO 'blue';
"#;
    let a = analyse(sql);
    assert!(a.unknown.is_empty(), "{:?}", a.unknown);
    let s = |x: &str| x.to_string();
    assert!(has(&a, &col("users", "legacy"), Presence::Absent));
    assert!(expect_of(&a, &con("users", "users_legacy_key")).guarded);
    assert!(has(&a, &col("users", "full_name"), Presence::Present));
    assert!(has(&a, &col("users", "name"), Presence::Absent));
    assert!(has(&a, &con("users", "b"), Presence::Present));
    assert!(has(&a, &con("users", "a"), Presence::Absent));
    assert!(has(&a, &idx("users_email_key"), Presence::Present));
    assert!(has(&a, &idx("users_email_idx"), Presence::Absent));
    let nn = |c: &str| Object::NotNull { schema: s("public"), table: s("users"), column: s(c) };
    let df = |c: &str, v: Option<&str>| Object::Default {
        schema: s("public"),
        table: s("users"),
        column: s(c),
        value: v.map(String::from),
    };
    assert!(has(&a, &nn("email"), Presence::Present));
    assert!(has(&a, &nn("age"), Presence::Absent));
    assert!(has(&a, &df("role", None), Presence::Present));
    assert!(has(&a, &df("score", Some("0")), Presence::Present));
    let ty = a.expectations.iter().find(|e| matches!(e.object, Object::ColumnType { .. })).unwrap();
    assert_eq!(
        ty.to_string(),
        r#"column "public"."users"."bio" has type varchar(255) (line 7, may predate the migration)"#
    );
    assert!(has(&a, &idx("old_idx"), Presence::Absent));
    assert!(has(&a, &idx("older_idx"), Presence::Absent));
    assert!(has(&a, &t("old_table"), Presence::Absent));
    assert!(has(&a, &Object::Type { schema: s("public"), name: s("old_enum") }, Presence::Absent));
    assert!(has(&a, &Object::Sequence { schema: s("public"), name: s("counter_seq") }, Presence::Present));
    assert!(has(&a, &Object::Sequence { schema: s("public"), name: s("gone_seq") }, Presence::Absent));
    assert!(has(&a, &Object::Extension { name: s("pg_trgm") }, Presence::Present));
    assert!(has(&a, &ev("mood", "blue"), Presence::Present));
    assert!(has(&a, &ev("mood", "sad"), Presence::Absent));
}

#[test]
fn column_types_resolve_like_the_server() {
    let ty = |decl: &str| {
        let a = analyse_in(&format!("ALTER TABLE t ALTER COLUMN c TYPE {decl} USING c::text"), "app");
        assert!(a.unknown.is_empty(), "{decl}: {:?}", a.unknown);
        match &a.expectations[0].object {
            Object::ColumnType { ty, .. } => (ty.regtype_texts(), ty.modifiers.clone()),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(ty("INTEGER"), (vec![r#""pg_catalog"."int4""#.to_string()], String::new()));
    assert_eq!(ty("TIMESTAMP(3)"), (vec![r#""pg_catalog"."timestamp""#.to_string()], "3".into()));
    assert_eq!(ty("timestamp (6) with time zone"), (vec![r#""pg_catalog"."timestamptz""#.to_string()], "6".into()));
    assert_eq!(ty("DOUBLE PRECISION"), (vec![r#""pg_catalog"."float8""#.to_string()], String::new()));
    assert_eq!(ty("character varying(20)[]"), (vec![r#""pg_catalog"."varchar"[]"#.to_string()], "20".into()));
    assert_eq!(ty("char"), (vec![r#""pg_catalog"."bpchar""#.to_string()], "1".into()));
    assert_eq!(ty("DECIMAL(65,30)"), (vec![r#""pg_catalog"."numeric""#.to_string()], "65,30".into()));
    assert_eq!(
        ty("\"Role\""),
        (vec![r#""pg_catalog"."Role""#.to_string(), r#""app"."Role""#.to_string()], String::new())
    );
    assert_eq!(
        ty("jsonb"),
        (vec![r#""pg_catalog"."jsonb""#.to_string(), r#""app"."jsonb""#.to_string()], String::new())
    );
    assert_eq!(ty("other.\"T\"[]"), (vec![r#""other"."T"[]"#.to_string()], String::new()));
    for bad in ["interval day to second", "numeric(a)", "setof int", "int + 1"] {
        let a = analyse(&format!("ALTER TABLE t ALTER COLUMN c TYPE {bad}"));
        assert_eq!(a.unknown.len(), 1, "{bad}");
    }
}

#[test]
fn statements_that_cannot_be_checked_are_unknown() {
    let cases = [
        "INSERT INTO \"users\" (\"id\") VALUES ('1')",
        "UPDATE users SET a = 1",
        "DELETE FROM users",
        "ALTER VIEW v SET SCHEMA other",
        "CREATE FUNCTION f(x tbl.col%TYPE) RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql",
        "CREATE OR REPLACE AGGREGATE f(int) (SFUNC = int4pl, STYPE = int)",
        "SELECT pg_sleep(1)",
        "CREATE INDEX ON users (email)",
        "ALTER TABLE users ADD EXCLUDE USING gist (c WITH &&)",
        "ALTER TABLE users ADD UNIQUE USING INDEX users_email_idx",
        "ALTER TABLE posts ADD FOREIGN KEY (a) REFERENCES public.users ON DELETE CASCADE",
        "ALTER TABLE users SET SCHEMA other",
        "CREATE TYPE pair AS (a int, b int)",
        "SET search_path TO tenant, public",
        "SET search_path = \"$user\", public",
        "RESET search_path",
        "ROLLBACK",
        "DO $$ BEGIN IF x > 1 THEN CREATE TYPE x AS ENUM ('a'); END IF; END $$",
        "DO $$ BEGIN EXECUTE 'CREATE TABLE x ()'; END $$",
        "DO $$ DECLARE n int; BEGIN CREATE TABLE x (); END $$",
        "DO $$ BEGIN CREATE TABLE x (); EXCEPTION WHEN others THEN DROP TABLE y; END $$",
        "DO 'BEGIN CREATE TABLE x (); END'",
        "DO $$ BEGIN CREATE TABLE x () $$",
        "CREATE TABLE \"x\" (\"a\" TEXT DEFAULT 'unterminated",
        "CREATE TEMP TABLE x (a int)",
        "frobnicate the database",
    ];
    for sql in cases {
        let a = analyse(sql);
        assert_eq!(a.unknown.len(), 1, "{sql}: {:?}", a.unknown);
        assert!(a.unknown[0].starts_with("line 1: "), "{}", a.unknown[0]);
        let ev = judge(&a, &applied_world(&a));
        assert_eq!(ev.verdict, Verdict::Unknown, "{sql}");
    }
    let a = analyse("CREATE TABLE a (x int);\n\nINSERT INTO a VALUES (1);");
    assert_eq!(a.unknown, ["line 3: INSERT INTO a VALUES (1) (data changes cannot be checked in the catalogs)"]);
}

#[test]
fn ignored_statements_and_search_path() {
    let sql = "BEGIN;\nSET lock_timeout = '5s';\nSET LOCAL search_path TO tenant;\nCOMMENT ON TABLE a IS 'x';\nCREATE TABLE a (x int);\nCOMMIT;";
    let a = analyse(sql);
    assert!(a.unknown.is_empty(), "{:?}", a.unknown);
    // The table, its column, and the column's type, nullability and default.
    assert_eq!(a.expectations.len(), 5);
    assert!(has(&a, &Object::Table { schema: "tenant".into(), name: "a".into() }, Presence::Present));
    // Nothing checkable at all: unknown.
    let a = analyse("BEGIN; COMMENT ON TABLE a IS 'x'; COMMIT;");
    assert!(a.unknown.is_empty());
    let ev = judge(&a, &HashMap::new());
    assert_eq!(ev.verdict, Verdict::Unknown);
    assert_eq!(ev.unknown, ["the migration makes no change the catalogs can show"]);
    assert_eq!(judge(&analyse(""), &HashMap::new()).verdict, Verdict::Unknown);
}

#[test]
fn lexical_traps_do_not_split_or_hide_statements() {
    let sql = r#"/* header /* nested; */ still comment; */
CREATE TABLE "a;b" ("x" TEXT DEFAULT ';--', "y" TEXT DEFAULT E'it\'s; $$');
-- CREATE TABLE "commented_out" ();
DO $body$ BEGIN CREATE TYPE "e" AS ENUM ('x;y', 'don''t'); EXCEPTION WHEN duplicate_object THEN null; END $body$;"#;
    let a = analyse(sql);
    assert!(a.unknown.is_empty(), "{:?}", a.unknown);
    assert!(has(&a, &t("a;b"), Presence::Present));
    assert!(has(&a, &col("a;b", "y"), Presence::Present));
    assert!(has(&a, &evs("e", &["x;y", "don't"]), Presence::Present));
    assert!(!a.expectations.iter().any(|e| e.to_string().contains("commented_out")));
    assert_eq!(expect_of(&a, &en("e")).line, 4);
}

#[test]
fn verdict_rules() {
    let a = analyse(PRISMA);
    let all = applied_world(&a);
    let ev = judge(&a, &all);
    assert_eq!(ev.verdict, Verdict::Applied);
    assert_eq!(ev.present.len(), a.expectations.len());
    assert!(ev.missing.is_empty());

    let ev = judge(&a, &world(&prisma_base()));
    assert_eq!(ev.verdict, Verdict::NotApplied);
    // All missing but the nullable column's "allows NULL" (true of a column that is not there
    // in this made-up world; the catalog query reports such a property as missing).
    assert_eq!(ev.missing.len(), a.expectations.len() - 1);

    // Without the table it alters, the migration could not run here: not "not applied".
    let ev = judge(&a, &world(&[ty("notification_type"), en("notification_type"), t("users")]));
    assert_eq!(ev.verdict, Verdict::Partial);
    assert!(ev.rerun_blocker.as_deref().unwrap().ends_with("table \"public\".\"notes\" does not exist"), "{ev:?}");

    // The enum and its value list are there, the rest is not.
    let mut w = prisma_base();
    w.extend([en("attendance_status"), evs("attendance_status", &["PRESENT", "ABSENT", "LATE"])]);
    let ev = judge(&a, &world(&w));
    assert_eq!(ev.verdict, Verdict::Partial);
    // (A nullable column's "allows NULL" holds in this made-up world without the column.)
    assert_eq!(ev.present.len(), 3);
    assert_eq!(ev.present.len() + ev.missing.len(), a.expectations.len());
    let json = serde_json::to_value(&ev).unwrap();
    assert_eq!(json["verdict"], "partial");
    assert_eq!(json["present"][0]["object"], "enum \"public\".\"attendance_status\"");
    assert_eq!(json["present"][0]["applied_means"], "Present");
    let blocker = ev.rerun_blocker.unwrap();
    assert!(blocker.starts_with("line 2: CREATE TYPE \"attendance_status\""), "{blocker}");
    assert!(blocker.ends_with("enum \"public\".\"attendance_status\" already exists"), "{blocker}");

    // An INVALID index left by CREATE INDEX CONCURRENTLY: never applied, never safe to roll back.
    let a = analyse("CREATE INDEX CONCURRENTLY \"users_email_idx\" ON \"users\"(\"email\");");
    let mut w = world(&[t("users")]);
    w.insert(idx("users_email_idx"), Found::Invalid);
    let ev = judge(&a, &w);
    assert_eq!(ev.verdict, Verdict::Partial);
    assert_eq!(ev.invalid.len(), 1);
    assert!(
        ev.report().contains(
            "in the way (there, but unusable or of another kind):\n    index \"public\".\"users_email_idx\" (line 1)"
        ),
        "{}",
        ev.report()
    );
}

#[test]
fn guarded_objects_alone_do_not_make_it_partial() {
    let sql = r#"
DO $$ BEGIN CREATE TYPE "e" AS ENUM ('a'); EXCEPTION WHEN duplicate_object THEN null; END $$;
CREATE TABLE IF NOT EXISTS "t" ("id" TEXT NOT NULL, CONSTRAINT "t_pkey" PRIMARY KEY ("id"));
CREATE TABLE "u" ("id" TEXT);
"#;
    let a = analyse(sql);
    // Only the guarded enum is there: a re-run skips it and creates the rest.
    let ev = judge(&a, &world(&[en("e"), evs("e", &["a"]), ty("e")]));
    assert_eq!(ev.verdict, Verdict::NotApplied, "{}", ev.report());
    assert_eq!(ev.present.iter().filter(|e| !is_definition(&e.object)).count(), 2);
    // The guarded table is there but lacks a column: a re-run would skip it, so it stays broken.
    let ev = judge(&a, &world(&[t("t"), con("t", "t_pkey")]));
    assert_eq!(ev.verdict, Verdict::Partial, "{}", ev.report());
    assert!(ev.rerun_blocker.unwrap().contains("column \"public\".\"t\".\"id\" exists"));
    // The unguarded table is there: a re-run fails on it.
    let ev = judge(&a, &world(&[t("u"), col("u", "id")]));
    assert_eq!(ev.verdict, Verdict::Partial);
    // A duplicate_object handler does not catch "relation already exists" (42P07).
    let a = analyse(
        r#"DO $$ BEGIN CREATE TABLE "v" ("id" int); EXCEPTION WHEN duplicate_object THEN null; END $$;
CREATE TABLE "w" ("id" int);"#,
    );
    assert_eq!(judge(&a, &world(&[t("v"), col("v", "id")])).verdict, Verdict::Partial);
    let a = analyse(
        r#"DO $$ BEGIN CREATE TABLE "v" ("id" int); EXCEPTION WHEN duplicate_table THEN null; END $$;
CREATE TABLE "w" ("id" int);"#,
    );
    assert_eq!(judge(&a, &after(r#"CREATE TABLE "v" ("id" int);"#)).verdict, Verdict::NotApplied);
    // A handler rolls back its whole block: the first type is not created when the second collides.
    let a = analyse(
        r#"DO $$ BEGIN CREATE TYPE "a" AS ENUM ('x'); CREATE TYPE "b" AS ENUM ('y');
EXCEPTION WHEN duplicate_object THEN null; END $$;"#,
    );
    let ev = judge(&a, &world(&[en("b"), evs("b", &["y"])]));
    assert_eq!(ev.verdict, Verdict::Partial, "{}", ev.report());
}

#[test]
fn prisma_enum_rewrite_is_followed_through_renames() {
    // What Prisma generates when a value is removed from an enum.
    let sql = r#"-- AlterEnum
BEGIN;
CREATE TYPE "Role_new" AS ENUM ('USER', 'ADMIN');
ALTER TABLE "User" ALTER COLUMN "role" DROP DEFAULT;
ALTER TABLE "User" ALTER COLUMN "role" TYPE "Role_new" USING ("role"::text::"Role_new");
ALTER TYPE "Role" RENAME TO "Role_old";
ALTER TYPE "Role_new" RENAME TO "Role";
DROP TYPE "Role_old";
ALTER TABLE "User" ALTER COLUMN "role" SET DEFAULT 'USER';
COMMIT;
"#;
    let a = analyse(sql);
    assert!(a.unknown.is_empty(), "{:?}", a.unknown);
    assert!(has(&a, &en("Role"), Presence::Present));
    assert!(has(&a, &evs("Role", &["USER", "ADMIN"]), Presence::Present));
    assert!(has(&a, &ty("Role_old"), Presence::Absent));
    assert!(has(&a, &ty("Role_new"), Presence::Absent));
    let role_type = a.expectations.iter().find(|e| matches!(e.object, Object::ColumnType { .. })).unwrap();
    assert_eq!(role_type.object.describe(Presence::Present), r#"column "public"."User"."role" has type "Role""#);
    assert!(!a.expectations.iter().any(|e| matches!(&e.object, Object::Enum { name, .. } if name == "Role_new")));

    // Before: Role has three values and the column uses it.
    let role_col_type = role_type.object.clone();
    let default = Object::Default {
        schema: "public".into(),
        table: "User".into(),
        column: "role".into(),
        value: Some("'USER'".into()),
    };
    let user = [t("User"), col("User", "role")];
    let mut before = world(&[ty("Role"), en("Role"), role_col_type.clone(), default.clone()]);
    before.extend(world(&user));
    let ev = judge(&a, &before);
    assert_eq!(ev.verdict, Verdict::NotApplied, "{}", ev.report());
    // After: everything is as the migration leaves it, but nothing shows that it ran:
    // an enum "Role" with exactly these values could have been there before.
    let mut after = world(&[ty("Role"), en("Role"), evs("Role", &["USER", "ADMIN"]), role_col_type, default]);
    after.extend(world(&user));
    let ev = judge(&a, &after);
    assert_eq!(ev.verdict, Verdict::Unknown, "{}", ev.report());
    assert_eq!(ev.unknown.len(), 1);
    assert!(ev.unknown[0].starts_with("line 3: CREATE TYPE \"Role_new\""), "{:?}", ev.unknown);
    assert!(ev.unknown[0].contains("looks the same before and after"), "{:?}", ev.unknown);
    assert!(ev.missing.is_empty());
}

#[test]
fn recreating_under_the_same_name_proves_nothing() {
    // Prisma's primary key change: same name before and after.
    let a = analyse(
        r#"ALTER TABLE "t" DROP CONSTRAINT "t_pkey",
ADD CONSTRAINT "t_pkey" PRIMARY KEY ("a", "b");"#,
    );
    assert!(a.unknown.is_empty(), "{:?}", a.unknown);
    // A key of that name with another definition: not applied.
    let ev = judge(&a, &world(&[t("t"), con("t", "t_pkey")]));
    assert_eq!(ev.verdict, Verdict::NotApplied, "{}", ev.report());
    // With this definition: dropped and added again in one file, the definition changed, so it shows.
    let mut w = after(r#"CREATE TABLE "t" ("a" int, "b" int, PRIMARY KEY ("a", "b"));"#);
    w.retain(|o, _| matches!(o, Object::Table { .. } | Object::Constraint { .. } | Object::ConstraintDef { .. }));
    let ev = judge(&a, &w);
    assert_eq!(ev.verdict, Verdict::Applied, "{}", ev.report());
    // Without the key, a re-run would fail on the DROP.
    assert_eq!(judge(&a, &world(&[t("t")])).verdict, Verdict::Partial);
    // With a change that does show, the whole migration (one transaction) is applied.
    let a = analyse(
        r#"ALTER TABLE "t" ADD COLUMN "b" INTEGER NOT NULL, DROP CONSTRAINT "t_pkey",
ADD CONSTRAINT "t_pkey" PRIMARY KEY ("a", "b");"#,
    );
    let w = after(r#"CREATE TABLE "t" ("b" INTEGER NOT NULL, CONSTRAINT "t_pkey" PRIMARY KEY ("a", "b"));"#);
    assert_eq!(judge(&a, &w).verdict, Verdict::Applied);
    assert_eq!(judge(&a, &world(&[t("t"), con("t", "t_pkey")])).verdict, Verdict::NotApplied);
    // A migration of guards only, all in place: re-running it would change nothing, so applied.
    let a = analyse(r#"CREATE TABLE IF NOT EXISTS "g" ("id" int); ALTER TABLE "g" ALTER COLUMN "id" SET NOT NULL;"#);
    assert_eq!(judge(&a, &after(r#"CREATE TABLE "g" ("id" int NOT NULL);"#)).verdict, Verdict::Applied);
}

#[test]
fn enum_values_follow_add_value() {
    let a = analyse(
        "CREATE TYPE e AS ENUM ('a', 'c');\nALTER TYPE e ADD VALUE 'b' BEFORE 'c';\nALTER TYPE e ADD VALUE IF NOT EXISTS 'd' AFTER 'c';",
    );
    assert!(a.unknown.is_empty(), "{:?}", a.unknown);
    assert!(has(&a, &evs("e", &["a", "b", "c", "d"]), Presence::Present));
    assert!(!a.expectations.iter().any(|e| e.object == evs("e", &["a", "c"])));
    assert!(has(&a, &ev("e", "b"), Presence::Present));
    assert_eq!(judge(&a, &applied_world(&a)).verdict, Verdict::Applied);
    let ev = judge(&a, &HashMap::new());
    assert_eq!(ev.verdict, Verdict::NotApplied, "{}", ev.report());
}

#[test]
fn garbage_never_panics() {
    let pieces = [
        "CREATE",
        "TABLE",
        "INDEX",
        "ALTER",
        "TYPE",
        "DO",
        "$$",
        "BEGIN",
        "END",
        "EXCEPTION",
        "WHEN",
        "ADD",
        "VALUE",
        "IF",
        "NOT",
        "EXISTS",
        "(",
        ")",
        ",",
        ";",
        "'x'",
        "\"Q\"",
        "a",
        ".",
        "ON",
        "CONSTRAINT",
        "PRIMARY",
        "KEY",
        "RENAME",
        "TO",
        "DROP",
        "COLUMN",
        "SET",
        "search_path",
        "ENUM",
        "AS",
        "[",
        "]",
        "E'\\",
        "/*",
        "--",
        "\n",
        "THEN",
        "null",
        "duplicate_object",
        "SEQUENCE",
        "EXTENSION",
        "SCHEMA",
        "*",
        "=",
        "TIMESTAMP",
        "WITH",
        "$t$",
    ];
    let mut seed: u64 = 42;
    let mut next = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    for _ in 0..400 {
        let n = next() % 30;
        let sql: Vec<&str> = (0..n).map(|_| pieces[next() % pieces.len()]).collect();
        let sql = sql.join(" ");
        let a = analyse(&sql);
        let _ = judge(&a, &HashMap::new());
        let _ = judge(&a, &applied_world(&a));
        let _ = catalog::query(&a.lookups);
    }
}

#[test]
fn more_prisma_shapes() {
    let sql = r#"/*
  Warnings:

  - You are about to drop the column `legacy` on the `posts` table. All the data in the column will be lost.
  - A unique constraint covering the columns `[slug]` on the table `posts` will be added.
*/
-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "audit";

-- CreateExtension
CREATE EXTENSION IF NOT EXISTS "citext";

-- DropForeignKey
ALTER TABLE "posts" DROP CONSTRAINT "posts_author_id_fkey";

-- DropIndex
DROP INDEX "posts_title_idx";

-- AlterTable
ALTER TABLE "posts" DROP COLUMN "legacy",
ADD COLUMN     "slug" TEXT NOT NULL,
ADD COLUMN     "tags" "Tag"[] DEFAULT ARRAY[]::"Tag"[],
ALTER COLUMN "price" SET DATA TYPE DECIMAL(65,30);

-- CreateTable
CREATE TABLE "audit"."events" (
    "id" SERIAL NOT NULL,
    "at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "payload" JSONB NOT NULL DEFAULT '{}',
    "n" INTEGER GENERATED ALWAYS AS IDENTITY (START WITH 10 INCREMENT BY 1),

    CONSTRAINT "events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "_PostToTag" (
    "A" INTEGER NOT NULL,
    "B" INTEGER NOT NULL,

    CONSTRAINT "_PostToTag_AB_pkey" PRIMARY KEY ("A","B")
);

-- CreateIndex
CREATE UNIQUE INDEX "posts_slug_key" ON "posts"("slug");

-- CreateIndex
CREATE INDEX CONCURRENTLY IF NOT EXISTS "posts_title_trgm_idx" ON ONLY "public"."posts" USING gin ("title" gin_trgm_ops) INCLUDE ("id") WHERE ("published" = true);

-- RenameIndex
ALTER INDEX "posts_authorId_idx" RENAME TO "posts_author_id_idx";

-- AddForeignKey
ALTER TABLE "_PostToTag" ADD CONSTRAINT "_PostToTag_A_fkey" FOREIGN KEY ("A") REFERENCES "posts"("id") ON DELETE CASCADE ON UPDATE CASCADE;
"#;
    let a = analyse(sql);
    assert!(a.unknown.is_empty(), "{:?}", a.unknown);
    let s = |x: &str| x.to_string();
    assert!(has(&a, &Object::Schema { name: s("audit") }, Presence::Present));
    assert!(has(&a, &Object::Extension { name: s("citext") }, Presence::Present));
    assert!(has(&a, &con("posts", "posts_author_id_fkey"), Presence::Absent));
    assert!(has(&a, &idx("posts_title_idx"), Presence::Absent));
    assert!(has(&a, &col("posts", "legacy"), Presence::Absent));
    assert!(has(&a, &col("posts", "tags"), Presence::Present));
    assert!(has(&a, &Object::Column { schema: s("audit"), table: s("events"), name: s("n") }, Presence::Present));
    assert!(has(
        &a,
        &Object::Constraint { schema: s("audit"), table: s("events"), name: s("events_pkey") },
        Presence::Present
    ));
    assert!(has(&a, &con("_PostToTag", "_PostToTag_AB_pkey"), Presence::Present));
    assert!(expect_of(&a, &idx("posts_title_trgm_idx")).guarded);
    assert!(has(&a, &idx("posts_author_id_idx"), Presence::Present));
    assert!(has(&a, &idx("posts_authorId_idx"), Presence::Absent));
    let price = a
        .expectations
        .iter()
        .find(|e| matches!(&e.object, Object::ColumnType { column, .. } if column == "price"))
        .unwrap();
    assert_eq!(price.object.describe(Presence::Present), r#"column "public"."posts"."price" has type numeric(65,30)"#);
    assert_eq!(expect_of(&a, &con("posts", "posts_author_id_fkey")).line, 14);
    // Every one of these changes shows whether it ran.
    assert_eq!(judge(&a, &applied_world(&a)).verdict, Verdict::Applied);
}

#[test]
fn an_object_the_failed_attempt_says_existed_is_not_counted() {
    // The production failure: the migration re-creates an enum an earlier migration made.
    let sql = r#"CREATE TYPE "attendance_status" AS ENUM ('PRESENT', 'ABSENT');
CREATE TABLE "notes" ("id" TEXT NOT NULL, CONSTRAINT "notes_pkey" PRIMARY KEY ("id"));"#;
    let a = analyse(sql);
    let w =
        world(&[en("attendance_status"), evs("attendance_status", &["PRESENT", "ABSENT"]), ty("attendance_status")]);
    let ev = judge(&a, &w);
    assert_eq!(ev.verdict, Verdict::Partial);
    // One transaction cannot leave the enum without the table: run by hand, or the enum predates it.
    assert!(
        ev.summary().starts_with(
            "partial (run by hand?): 2 of its 9 changes are in the database; line 1 is done (enum \"public\".\"attendance_status\" exists) and line 2 is not (CREATE TABLE \"notes\""
        ),
        "{}",
        ev.summary()
    );

    let mut fixed = ev.clone();
    assert!(fixed.discount("attendance_status"));
    assert_eq!(fixed.verdict, Verdict::NotApplied, "{}", fixed.report());
    assert_eq!(fixed.predating.len(), 2);
    assert_eq!(fixed.summary(), "not applied: none of its 7 changes are in the database");
    // The list the summary counts: each line that stands for changes left out says
    // how many, so the lines and the count agree (issue 21: "none of its 6
    // changes" over a list of 2).
    let details = fixed.details();
    let not_done: Vec<&str> = details
        .split("  not done (as the database has it now):\n")
        .nth(1)
        .unwrap_or_default()
        .lines()
        .take_while(|l| l.starts_with("    "))
        .collect();
    let counted: usize = not_done
        .iter()
        .map(|l| 1 + l.split(", and the ").nth(1).and_then(|r| r.split(' ').next()?.parse::<usize>().ok()).unwrap_or(0))
        .sum();
    assert_eq!(counted, 7, "{details}");
    assert!(
        fixed.details().contains("  not counted (existed before the migration ran):\n    enum"),
        "{}",
        fixed.details()
    );
    assert!(!fixed.discount("no_such_thing"));
    assert_eq!(fixed.verdict, Verdict::NotApplied);

    // The same through the list-editing helpers `diagnose` uses.
    let mut edited = ev;
    edited.present.retain(|e| !names_object(e, "attendance_status"));
    assert_eq!(verdict_of(&edited), Verdict::NotApplied);
    assert_eq!(summary(&judge(&a, &applied_world(&a))), "applied: all 9 of its changes are in the database");
}

#[test]
fn a_do_block_guarded_by_if_not_exists_is_a_guard() {
    let sql = r#"DO $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_constraint WHERE conname = 'M_userId_fkey'
  ) THEN
    ALTER TABLE "M" ADD CONSTRAINT "M_userId_fkey"
      FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;
  END IF;
END $$;
CREATE INDEX IF NOT EXISTS "M_userId_idx" ON "M"("userId");"#;
    let a = analyse(sql);
    assert!(a.unknown.is_empty(), "{:?}", a.unknown);
    assert!(expect_of(&a, &con("M", "M_userId_fkey")).guarded);
    // Already there: a re-run skips it.
    let mut w = after(
        r#"ALTER TABLE "M" ADD CONSTRAINT "M_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;"#,
    );
    w.insert(t("M"), Found::Present);
    let ev = judge(&a, &w);
    assert_eq!(ev.verdict, Verdict::NotApplied, "{}", ev.report());
    // There with another definition: the guard would skip it and leave it so.
    let ev = judge(&a, &world(&[t("M"), con("M", "M_userId_fkey")]));
    assert_eq!(ev.verdict, Verdict::Partial, "{}", ev.report());
    // A condition that does not name what it creates, or more logic: not understood,
    // and never "text after the END".
    for sql in [
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_class WHERE relname = 'other') THEN CREATE TABLE t (a int); END IF; END $$;",
        "DO $$ BEGIN IF x > 1 THEN CREATE TABLE t (a int); END IF; END $$;",
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_class WHERE relname = 't') THEN CREATE TABLE t (a int); CREATE TABLE u (a int); END IF; END $$;",
    ] {
        let a = analyse(sql);
        assert_eq!(a.unknown.len(), 1, "{sql}");
        assert!(a.unknown[0].contains("PL/pgSQL logic"), "{:?}", a.unknown);
    }
}

#[test]
fn transactional_files() {
    let units = |s: &str| statements::units(s);
    assert_eq!(units("CREATE TABLE a (x int); UPDATE a SET x = 1;"), Some(vec![0, 0]));
    assert_eq!(units("CREATE INDEX CONCURRENTLY i ON a (x);"), Some(vec![0]));
    // Prisma's enum rewrite: one block, then statements in a second transaction.
    assert_eq!(units("BEGIN; CREATE TABLE a (x int); COMMIT; UPDATE a SET x = 1;"), Some(vec![0, 0, 0, 1]));
    // Statements before BEGIN join its block; a block around everything is one unit.
    assert_eq!(units("CREATE TABLE a (x int); BEGIN; UPDATE a SET x = 1; COMMIT;"), Some(vec![0, 0, 0, 0]));
    assert_eq!(units("UPDATE a SET x = 1; COMMIT; UPDATE a SET x = 2; END;"), Some(vec![0, 0, 1, 1]));
    assert_eq!(units("CREATE TABLE a (x int); CREATE INDEX CONCURRENTLY i ON a (x);"), None);
    assert_eq!(units("CREATE TABLE a (x int); UPDATE a SET x = 'unterminated;"), None);
    assert_eq!(units("BEGIN; CREATE TABLE a (x int); SAVEPOINT s; COMMIT;"), None);
    assert_eq!(units("BEGIN; CREATE TABLE a (x int);"), None, "a block never committed");
    assert_eq!(units("BEGIN; BEGIN; CREATE TABLE a (x int); COMMIT;"), None);
    assert!(analyse("BEGIN; CREATE TABLE a (x int); UPDATE a SET x = 1; COMMIT;").transactional);
    assert!(!analyse("BEGIN; CREATE TABLE a (x int); COMMIT; UPDATE a SET x = 1;").transactional);
}

#[test]
fn create_or_replace_is_safe_to_run_again_but_proves_nothing() {
    // An attribute the analyser does not compare: the function is not checked.
    let f = "CREATE OR REPLACE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql SUPPORT g;";
    let a = analyse(&format!("DROP PROCEDURE IF EXISTS f;\n{f}"));
    assert!(a.unknown.is_empty() && a.replaced.len() == 2, "{:?}", a.unknown);
    let ev = judge(&a, &HashMap::new());
    assert_eq!(ev.verdict, Verdict::NotApplied, "{}", ev.report());
    assert!(ev.rule.as_deref().unwrap().contains("CREATE OR REPLACE"));
    // With a table: not applied while the table is missing; applied once it is there
    // only because the file is one transaction.
    let sql = format!("CREATE TABLE t (a int);\n{f}");
    let a = analyse(&sql);
    assert_eq!(judge(&a, &HashMap::new()).verdict, Verdict::NotApplied);
    let ev = judge(&a, &applied_world(&a));
    assert_eq!(ev.verdict, Verdict::Applied, "{}", ev.report());
    assert!(ev.rule.is_some());
    let a = analyse(&format!("BEGIN; CREATE TABLE t (a int); COMMIT;\n{f}"));
    assert_eq!(judge(&a, &applied_world(&a)).verdict, Verdict::Unknown);
    assert_eq!(judge(&a, &HashMap::new()).verdict, Verdict::NotApplied);
}

#[test]
fn objects_named_after_a_rename_are_looked_up_under_their_old_owner() {
    let a = analyse(
        r#"ALTER TABLE "BookingWindow" RENAME TO "AvailabilityWindow";
ALTER TABLE "AvailabilityWindow" RENAME CONSTRAINT "BookingWindow_pkey" TO "AvailabilityWindow_pkey";"#,
    );
    assert!(a.lookups.contains(&con("BookingWindow", "BookingWindow_pkey")), "{:?}", a.lookups);
    // Before it ran: a re-run renames the table, then the key it carried along.
    let ev = judge(&a, &world(&[t("BookingWindow"), con("BookingWindow", "BookingWindow_pkey")]));
    assert_eq!(ev.verdict, Verdict::NotApplied, "{}", ev.report());
}

#[test]
fn a_temporary_table_the_file_drops_again_is_no_change() {
    let a = analyse("CREATE TEMP TABLE m (a int);\nINSERT INTO m VALUES (1);\nCREATE TABLE t (a int);\nDROP TABLE m;");
    assert_eq!(a.unknown.len(), 2, "{:?}", a.unknown);
    assert!(!a.expectations.iter().any(|e| e.to_string().contains("\"m\"")), "{:#?}", a.expectations);
    // One transaction: the table is not there, so neither is anything else of it.
    assert_eq!(judge(&a, &HashMap::new()).verdict, Verdict::NotApplied);
    // A table of the same name that is not temporary is dropped for real.
    let a = analyse("CREATE TABLE t (a int);\nDROP TABLE m;");
    assert!(has(&a, &t("m"), Presence::Absent));
}

#[test]
fn a_statement_not_understood_that_may_create_objects_hides_what_was_there_before() {
    // `SELECT ... INTO TEMP TABLE` made the table the file drops: the drop shows nothing.
    let sql = "WITH c AS (INSERT INTO r VALUES (1) RETURNING id) SELECT * INTO TEMP TABLE tmp FROM c;\n\
               INSERT INTO a SELECT id FROM tmp;\nDROP TABLE tmp;";
    let a = analyse(sql);
    let ev = judge(&a, &HashMap::new());
    assert_eq!(ev.verdict, Verdict::Unknown, "{}", ev.report());
    // Row changes alone do not hide anything: the new column shows that it ran.
    let a = analyse("UPDATE a SET x = 1;\nALTER TABLE a ADD COLUMN y int;");
    let mut w = after("CREATE TABLE a (y int);");
    w.insert(t("a"), Found::Present);
    assert_eq!(judge(&a, &w).verdict, Verdict::Applied);
}

fn view(name: &str) -> Object {
    Object::View { schema: "public".into(), name: name.into(), materialized: false }
}

fn fun(name: &str, args: Option<&[&str]>) -> Object {
    let ty = |n: &str| TypeName {
        lookup: vec![("pg_catalog".into(), n.into()), ("public".into(), n.into())],
        modifiers: String::new(),
        array: false,
    };
    Object::Function {
        schema: "public".into(),
        name: name.into(),
        args: args.map(|a| a.iter().map(|n| ty(n)).collect()),
        def: None,
    }
}

/// The function object with a definition that `a` expects.
fn fun_def(a: &Analysis, name: &str) -> objects::FunctionDef {
    a.expectations
        .iter()
        .find_map(|e| match &e.object {
            Object::Function { name: n, def: Some(d), .. } if n == name => Some(d.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no definition of {name}: {:#?} {:?}", a.expectations, a.unknown))
}

#[test]
fn views_are_relations_checked_by_presence() {
    let a = analyse(
        "CREATE VIEW v AS SELECT 1;\nCREATE MATERIALIZED VIEW IF NOT EXISTS m AS SELECT 1 WITH NO DATA;\n\
         ALTER VIEW v RENAME TO w;\nDROP VIEW IF EXISTS x, y CASCADE;\nDROP MATERIALIZED VIEW old;",
    );
    assert!(a.unknown.is_empty() && a.replaced.is_empty(), "{:?} {:?}", a.unknown, a.replaced);
    assert!(has(&a, &view("w"), Presence::Present) && has(&a, &view("v"), Presence::Absent));
    assert!(!expect_of(&a, &view("w")).guarded);
    let m = Object::View { schema: "public".into(), name: "m".into(), materialized: true };
    assert!(expect_of(&a, &m).guarded);
    assert!(expect_of(&a, &view("x")).guarded && has(&a, &view("y"), Presence::Absent));
    let old = Object::View { schema: "public".into(), name: "old".into(), materialized: true };
    assert!(has(&a, &old, Presence::Absent) && !expect_of(&a, &old).guarded);

    // Replaced, or created again after a drop: present, but its query is not checked.
    for sql in [
        "CREATE OR REPLACE VIEW v AS SELECT 2;",
        "DROP VIEW IF EXISTS v;\nCREATE VIEW v AS SELECT 2;",
        "DROP VIEW IF EXISTS other CASCADE;\nCREATE VIEW v AS SELECT 2;",
    ] {
        let a = analyse(sql);
        assert!(a.unknown.is_empty() && a.replaced.len() == 1, "{sql}: {:?}", a.replaced);
        assert!(has(&a, &view("v"), Presence::Present) && expect_of(&a, &view("v")).guarded, "{sql}");
    }
    // Outside one transaction, a replaced view found does not show that it ran.
    let a = analyse("BEGIN;\nALTER TABLE t ADD COLUMN c int;\nCOMMIT;\nCREATE OR REPLACE VIEW v AS SELECT c FROM t;");
    let mut w = applied_world(&a);
    assert_eq!(judge(&a, &w).verdict, Verdict::Unknown);
    // The column there and the view not: partial (the re-run fails on the column).
    w.insert(view("v"), Found::Absent);
    assert_eq!(judge(&a, &w).verdict, Verdict::Partial);
    assert_eq!(judge(&a, &world(&[t("t")])).verdict, Verdict::NotApplied);

    // A view and a table share a name space: dropping one frees the name for the other.
    let a = analyse("DROP VIEW v;\nCREATE TABLE v (a int);");
    let before: HashMap<Object, Found> = [(view("v"), Found::Present), (t("v"), Found::Invalid)].into();
    assert_eq!(judge(&a, &before).verdict, Verdict::NotApplied, "{}", judge(&a, &before).report());
    // A table where the view should be: in the way.
    let a = analyse("CREATE VIEW v AS SELECT 1;");
    let ev = judge(&a, &[(view("v"), Found::Invalid)].into());
    assert_eq!(ev.verdict, Verdict::Partial, "{}", ev.report());
    assert!(ev.details().contains("in the way"), "{}", ev.details());
}

#[test]
fn functions_are_read_with_their_arguments_and_body() {
    let sql = "CREATE OR REPLACE FUNCTION public.f(IN a text, b \"Project\", VARIADIC c int[], OUT d bigint, \
               e double precision, timestamp with time zone)\n\
               RETURNS SETOF text LANGUAGE plpgsql STABLE SECURITY DEFINER STRICT AS $fn$ BEGIN RETURN; END $fn$;";
    let a = analyse(sql);
    assert!(a.unknown.is_empty() && a.replaced.is_empty(), "{:?} {:?}", a.unknown, a.replaced);
    let e = a.expectations.iter().find(|e| matches!(e.object, Object::Function { def: Some(_), .. })).unwrap();
    assert!(e.guarded);
    assert_eq!(
        e.object.to_string(),
        "function \"public\".\"f\"(text, \"Project\", int4[], float8, timestamptz)",
        "OUT arguments are not part of the signature"
    );
    let d = fun_def(&a, "f");
    assert_eq!(d.body, " BEGIN RETURN; END ");
    assert_eq!(
        (d.language.as_str(), d.setof, d.volatility, d.security_definer, d.strict),
        ("plpgsql", true, 's', true, true)
    );
    assert_eq!(d.returns.unwrap().to_string(), "text");
    let a = analyse("CREATE OR REPLACE FUNCTION f() RETURNS SETOF int ROWS 1 COST 5 PARALLEL SAFE LEAKPROOF AS $$ SELECT 1 $$ LANGUAGE sql;");
    let d = fun_def(&a, "f");
    assert_eq!((d.rows.as_deref(), d.cost.as_deref(), d.parallel, d.leakproof), (Some("1"), Some("5"), 's', true));

    // A string body, unescaped; defaults and unknown attributes are fine when it is new.
    let a = analyse("CREATE FUNCTION g(n int DEFAULT 21) RETURNS int AS 'SELECT ''x'' || n' LANGUAGE sql COST 5 PARALLEL SAFE IMMUTABLE;");
    assert!(a.unknown.is_empty(), "{:?}", a.unknown);
    let d = fun_def(&a, "g");
    assert_eq!((d.body.as_str(), d.volatility), ("SELECT 'x' || n", 'i'));
    // Created without OR REPLACE: it was not there before, so finding it shows that the file ran.
    assert!(a.informative.iter().any(|o| matches!(o, Object::Function { def: Some(_), .. })), "{:?}", a.informative);
    let ga = a.expectations.iter().find_map(|e| match &e.object {
        Object::Function { args: Some(args), def: None, .. } => Some(args.clone()),
        _ => None,
    });
    assert_eq!(ga.unwrap()[0].regtype_texts(), ["\"pg_catalog\".\"int4\""]);

    // A replaced one with argument defaults: compared on them too (`OUT` ones have none),
    // and its statement stays listed as not checked in full.
    let a = analyse(
        "CREATE OR REPLACE FUNCTION g(a timestamp DEFAULT '2020-01-01 00:00:00', OUT o int, n int = -1, m text DEFAULT \
         NULL) RETURNS int AS $$ SELECT n $$ LANGUAGE sql;",
    );
    assert!(a.unknown.is_empty() && a.replaced.len() == 1, "{:?} {:?}", a.unknown, a.replaced);
    let d = fun_def(&a, "g");
    let defaults = |v: &[Option<&str>]| Some(v.iter().map(|x| x.map(String::from)).collect::<Vec<_>>());
    assert_eq!(d.defaults, defaults(&[Some("'2020-01-01 00:00:00'"), None, Some("-1"), Some("null")]));
    // Without defaults, each must have none; a new function's are not compared.
    let d = fun_def(&analyse("CREATE OR REPLACE FUNCTION g(n int) RETURNS int AS $$ SELECT n $$ LANGUAGE sql;"), "g");
    assert_eq!(d.defaults, defaults(&[None]));
    assert_eq!(
        fun_def(&analyse("CREATE FUNCTION g(n int) RETURNS int AS 'SELECT n' LANGUAGE sql;"), "g").defaults,
        None
    );

    // What a replaced function cannot be compared on: checked by its presence with its
    // argument types alone (absent, it has not run).
    for sql in [
        "CREATE OR REPLACE FUNCTION g() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql SET search_path = public;",
        "CREATE OR REPLACE FUNCTION g() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql COST 1e3;",
        "CREATE OR REPLACE FUNCTION g() RETURNS TABLE (a int) AS $$ SELECT 1 $$ LANGUAGE sql;",
        "CREATE OR REPLACE FUNCTION g() RETURNS int LANGUAGE sql RETURN 1;",
        "CREATE OR REPLACE FUNCTION g() RETURNS int AS 'lib', 'g' LANGUAGE c;",
    ] {
        let a = analyse(sql);
        assert!(a.unknown.is_empty() && a.replaced.len() == 1, "{sql}: {:?}", a.unknown);
        assert_eq!(a.expectations.len(), 1, "{sql}: {:#?}", a.expectations);
        assert!(has(&a, &fun("g", Some(&[])), Presence::Present) && a.expectations[0].guarded, "{sql}");
    }
    // What it cannot read at all (an argument type, a procedure): left unchecked, as before.
    for sql in [
        "CREATE OR REPLACE FUNCTION g(n \"T\" more words) RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;",
        "CREATE OR REPLACE PROCEDURE p() AS $$ SELECT 1 $$ LANGUAGE sql;",
    ] {
        let a = analyse(sql);
        assert!(a.unknown.is_empty() && a.replaced.len() == 1 && a.expectations.is_empty(), "{sql}: {:?}", a.unknown);
    }
}

#[test]
fn dropping_functions_by_name_or_by_arguments() {
    let a = analyse("DROP FUNCTION IF EXISTS f;\nDROP FUNCTION g(text, int), h();");
    assert!(a.unknown.is_empty() && a.replaced.is_empty(), "{:?}", a.unknown);
    assert!(expect_of(&a, &fun("f", None)).guarded);
    assert!(has(&a, &fun("h", Some(&[])), Presence::Absent));
    let Object::Function { args: Some(args), .. } =
        &a.expectations.iter().find(|e| e.object.to_string().contains("\"g\"")).unwrap().object
    else {
        panic!()
    };
    assert_eq!(args.len(), 2);
    // Two functions named f: the drop without arguments fails on them.
    let a = analyse("DROP FUNCTION f;");
    assert_eq!(judge(&a, &[(fun("f", None), Found::Invalid)].into()).verdict, Verdict::Partial);

    // Dropped by name, created with arguments: the new one may have been there before.
    let a = analyse(
        "ALTER TABLE t ADD COLUMN c int;\nDROP FUNCTION IF EXISTS f;\n\
         CREATE FUNCTION f(a text) RETURNS text AS $$ SELECT a $$ LANGUAGE sql;",
    );
    assert!(!a.informative.iter().any(|o| matches!(o, Object::Function { .. })), "{:?}", a.informative);
    // Once applied, the function of that name is the new one.
    assert!(has(&a, &fun("f", None), Presence::Present), "{:#?}", a.expectations);
    let w = applied_world(&a);
    assert_eq!(judge(&a, &w).verdict, Verdict::Applied, "{}", judge(&a, &w).report());
    // The old function is still there, the column is not: a re-run drops and creates it.
    let before: HashMap<Object, Found> = [(t("t"), Found::Present), (fun("f", None), Found::Present)].into();
    assert_eq!(judge(&a, &before).verdict, Verdict::NotApplied, "{}", judge(&a, &before).report());
}

#[test]
fn a_replaced_function_is_not_applied_while_its_old_body_is_there() {
    let f = |body: &str| format!("CREATE OR REPLACE FUNCTION f() RETURNS int AS $$ {body} $$ LANGUAGE sql;");
    let a = analyse(&f("SELECT 2"));
    let new = a.expectations[0].object.clone();
    let old = analyse(&f("SELECT 1")).expectations[0].object.clone();
    assert_ne!(new, old);
    // The catalogs hold the old body: the new one is not there.
    let ev = judge(&a, &[(old.clone(), Found::Present), (new.clone(), Found::Absent)].into());
    assert_eq!(ev.verdict, Verdict::NotApplied, "{}", ev.report());
    let ev = judge(&a, &[(new, Found::Present), (old, Found::Absent)].into());
    assert_eq!(ev.verdict, Verdict::Applied, "{}", ev.report());
    assert!(ev.rule.is_none());
}

#[test]
fn triggers_replaced_dropped_and_created_again() {
    let a = analyse("CREATE OR REPLACE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();");
    assert!(a.unknown.is_empty() && a.replaced.len() == 1, "{:?}", a.unknown);
    let tr = Object::Trigger { schema: "public".into(), table: "t".into(), name: "tr".into() };
    assert!(has(&a, &tr, Presence::Present) && expect_of(&a, &tr).guarded);
    // Missing table: a re-run fails on it.
    let ev = judge(&a, &HashMap::new());
    assert_eq!(ev.verdict, Verdict::Partial, "{}", ev.report());
    assert_eq!(judge(&a, &world(&[t("t")])).verdict, Verdict::NotApplied);

    let a = analyse(
        "DROP TRIGGER IF EXISTS tr ON t;\nCREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();",
    );
    assert!(a.unknown.is_empty() && a.replaced.len() == 1, "{:?} {:?}", a.unknown, a.replaced);
    assert!(expect_of(&a, &tr).guarded || !a.informative.contains(&tr));
}

#[test]
fn a_file_of_only_replaces_is_not_applied_whatever_is_there() {
    let sql = "DROP VIEW IF EXISTS v;\nCREATE VIEW v AS SELECT 1;\nCREATE OR REPLACE VIEW w AS SELECT 2;\n\
               CREATE OR REPLACE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;";
    let a = analyse(sql);
    assert!(a.only_replaces && a.unknown.is_empty(), "{:?}", a.unknown);
    for w in [HashMap::new(), applied_world(&a)] {
        let ev = judge(&a, &w);
        assert_eq!(ev.verdict, Verdict::NotApplied, "{}", ev.report());
        assert!(ev.rule.as_deref().unwrap().contains("does the same again"));
    }
    // A table where a view should be: the re-run fails on it.
    let mut w = applied_world(&a);
    w.insert(view("w"), Found::Invalid);
    assert_eq!(judge(&a, &w).verdict, Verdict::Partial);
    // A table change among them: the usual rules.
    assert!(!analyse(&format!("{sql}\nALTER TABLE t ADD COLUMN c int;")).only_replaces);
}

#[test]
fn a_function_dropped_and_created_again_is_safe_to_run_again() {
    let sql = "DROP FUNCTION IF EXISTS f;\nCREATE FUNCTION f(a text) RETURNS text AS $$ SELECT a $$ LANGUAGE sql;";
    let a = analyse(sql);
    assert!(a.only_replaces, "{:#?}", a.program);
    // All in place: nothing shows it ran, but running it again drops and creates the same function.
    let ev = judge(&a, &applied_world(&a));
    assert_eq!(ev.verdict, Verdict::NotApplied, "{}", ev.report());
    // Without the drop, a re-run fails on the function: applied.
    let a = analyse("CREATE FUNCTION f(a text) RETURNS text AS $$ SELECT a $$ LANGUAGE sql;");
    assert!(!a.only_replaces);
    assert_eq!(judge(&a, &applied_world(&a)).verdict, Verdict::Applied);
    // A checked CREATE OR REPLACE FUNCTION in place, and nothing else: applied.
    let a = analyse("CREATE OR REPLACE FUNCTION f(a text) RETURNS text AS $$ SELECT a $$ LANGUAGE sql;");
    let ev = judge(&a, &applied_world(&a));
    assert_eq!(ev.verdict, Verdict::Applied, "{}", ev.report());
}

#[test]
fn guarded_changes_in_place_with_a_replaced_view_are_safe_to_run_again() {
    let sql = "ALTER TABLE t ADD COLUMN IF NOT EXISTS c int;\nCREATE OR REPLACE VIEW v AS SELECT c FROM t;";
    let a = analyse(sql);
    let ev = judge(&a, &applied_world(&a));
    assert_eq!(ev.verdict, Verdict::NotApplied, "{}", ev.report());
    assert!(ev.rule.as_deref().unwrap().contains("replace what they make"), "{:?}", ev.rule);
    // A re-run that would change something (here: a column's type) is not "nothing but the view".
    let a = analyse("ALTER TABLE t DROP COLUMN IF EXISTS c;\nALTER TABLE t ADD COLUMN IF NOT EXISTS c int;\nCREATE OR REPLACE VIEW v AS SELECT c FROM t;");
    assert_eq!(judge(&a, &applied_world(&a)).verdict, Verdict::Unknown);
}

/// A data change inside Prisma's `BEGIN ... COMMIT` block, then a second transaction.
const TWO_UNITS: &str = r#"BEGIN;
UPDATE "w" SET "plan" = 'PRO' WHERE "plan" = 'TEAM';
CREATE TABLE "a" ("id" TEXT NOT NULL);
COMMIT;
ALTER TABLE "w" ADD COLUMN "n" INTEGER;
"#;

#[test]
fn data_changes_follow_the_transaction_they_are_in() {
    let a = analyse(TWO_UNITS);
    assert!(!a.transactional);
    let before = world(&[t("w"), col("w", "plan")]);

    let none = judge(&a, &before);
    assert_eq!(none.verdict, Verdict::NotApplied, "{}", none.report());
    assert!(none.report().contains("did not commit"), "{}", none.report());

    let all = judge(&a, &applied_world(&a));
    assert_eq!(all.verdict, Verdict::Applied, "{}", all.report());
    assert!(all.report().contains("the last one committed"), "{}", all.report());

    // The first transaction committed (its table is there), the second did not: the
    // UPDATE ran, and rolling back would run it again.
    let mut first = before.clone();
    first.extend(after(r#"CREATE TABLE "a" ("id" TEXT NOT NULL);"#));
    let half = judge(&a, &first);
    assert_eq!(half.verdict, Verdict::Partial, "{}", half.report());
}

#[test]
fn data_changes_in_a_later_transaction_than_the_evidence_stay_unknown() {
    // The UPDATE is in the second transaction, and nothing shows whether that one
    // committed: the column it would add may be there from before (IF NOT EXISTS).
    let a = analyse(
        "BEGIN; CREATE TABLE \"a\" (\"id\" TEXT); COMMIT;\n\
         ALTER TABLE \"w\" ADD COLUMN IF NOT EXISTS \"n\" INTEGER; UPDATE \"w\" SET \"n\" = 1;",
    );
    let mut w = world(&[t("w"), t("a"), col("a", "id"), col("w", "n")]);
    w.insert(col("w", "n"), Found::Present);
    let e = judge(&a, &w);
    assert_eq!(e.verdict, Verdict::Unknown, "{}", e.report());
}

#[test]
fn a_block_around_the_whole_file_is_one_transaction() {
    let a =
        analyse("BEGIN;\nUPDATE \"w\" SET \"plan\" = 'PRO';\nCREATE TABLE \"a\" (\"id\" TEXT NOT NULL);\nCOMMIT;\n");
    assert!(a.transactional);
    let none = judge(&a, &world(&[t("w")]));
    assert_eq!(none.verdict, Verdict::NotApplied, "{}", none.report());
    let all = judge(&a, &applied_world(&a));
    assert_eq!(all.verdict, Verdict::Applied, "{}", all.report());
}

#[test]
fn with_statements_that_change_rows_are_data_changes() {
    let a = analyse("WITH r AS (SELECT id FROM t) UPDATE t SET x = 1 FROM r WHERE t.id = r.id;");
    assert!(a.unknown[0].contains(statements::DATA_CHANGES), "{:?}", a.unknown);
    let a = analyse("WITH r AS (DELETE FROM t RETURNING id) SELECT count(*) FROM r;");
    assert!(!a.unknown[0].contains(statements::DATA_CHANGES), "{:?}", a.unknown);
}

#[test]
fn actions_that_do_the_same_again_are_not_unknown() {
    let sql = r#"CREATE TABLE "a" ("id" TEXT NOT NULL);
ALTER TABLE "a" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "a" OWNER TO app, REPLICA IDENTITY FULL, SET (fillfactor = 90);
ALTER TABLE "a" ALTER COLUMN "id" SET STATISTICS 500;
GRANT SELECT ON "a" TO PUBLIC;
"#;
    let a = analyse(sql);
    assert!(a.unknown.is_empty(), "{:?}", a.unknown);
    assert_eq!(a.replaced.len(), 4, "{:?}", a.replaced);
    assert_eq!(judge(&a, &applied_world(&a)).verdict, Verdict::Applied);
    assert_eq!(judge(&a, &world(&[])).verdict, Verdict::NotApplied);
    // Beside a change it checks, such an action is passed over.
    let mixed = analyse(r#"ALTER TABLE "a" ADD COLUMN "b" INTEGER, OWNER TO app;"#);
    assert!(mixed.unknown.is_empty() && mixed.replaced.is_empty(), "{:?}", mixed.replaced);
    assert!(has(&mixed, &col("a", "b"), Presence::Present));
    // A file of grants only is safe to run again.
    let grants = analyse("GRANT SELECT ON \"a\" TO PUBLIC; REVOKE ALL ON \"a\" FROM app;");
    assert_eq!(judge(&grants, &world(&[t("a")])).verdict, Verdict::NotApplied);
    // Prisma's new autoincrement on an existing column.
    let seq = analyse(
        r#"CREATE SEQUENCE "a_n_seq";
ALTER TABLE "a" ALTER COLUMN "n" SET DEFAULT nextval('"a_n_seq"');
ALTER SEQUENCE "a_n_seq" OWNED BY "a"."n";"#,
    );
    assert!(seq.unknown.is_empty(), "{:?}", seq.unknown);
    assert_eq!(judge(&seq, &applied_world(&seq)).verdict, Verdict::Applied);
    // Not these: they fail, or do something else, when run again.
    for sql in [
        r#"ALTER SEQUENCE "s" RENAME TO "t";"#,
        r#"ALTER TABLE "a" SET SCHEMA "b";"#,
        r#"ALTER SEQUENCE "s" RESTART WITH 1;"#,
        r#"ALTER TABLE "a" ATTACH PARTITION "a_1" FOR VALUES IN (1);"#,
    ] {
        assert_eq!(analyse(sql).unknown.len(), 1, "{sql}");
    }
}

#[test]
fn policies_are_looked_up_by_name_on_their_table() {
    let pol =
        |table: &str, name: &str| Object::Policy { schema: "public".into(), table: table.into(), name: name.into() };
    let a = analyse(
        "CREATE POLICY \"own\" ON \"Doc\" AS PERMISSIVE FOR ALL TO authenticated USING (\"ownerId\" = auth.uid());\n\
         DROP POLICY IF EXISTS old_one ON public.\"Doc\";",
    );
    assert!(a.unknown.is_empty(), "{:?}", a.unknown);
    assert!(has(&a, &pol("Doc", "own"), Presence::Present));
    assert!(has(&a, &pol("Doc", "old_one"), Presence::Absent));
    assert!(expect_of(&a, &pol("Doc", "old_one")).guarded);
    assert!(!expect_of(&a, &pol("Doc", "own")).guarded);
}

fn unnamed(a: &Analysis) -> Object {
    a.expectations
        .iter()
        .find(|e| matches!(e.object, Object::Unnamed { .. }))
        .map(|e| e.object.clone())
        .unwrap_or_else(|| panic!("no unnamed constraint: {:#?} {:?}", a.expectations, a.unknown))
}

/// Old Prisma's `ADD FOREIGN KEY` without a name: looked up by its definition; one
/// there is applied, none not applied, two or more undecided (a re-run adds a copy).
#[test]
fn unnamed_constraints_are_looked_up_by_definition() {
    let sql = r#"ALTER TABLE "Post" ADD FOREIGN KEY ("authorId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;"#;
    let a = analyse(sql);
    assert!(a.unknown.is_empty(), "{:?}", a.unknown);
    let o = unnamed(&a);
    let Object::Unnamed { def, .. } = &o else { unreachable!() };
    assert_eq!(
        def,
        &definition::constraint(
            "FOREIGN KEY (\"authorId\") REFERENCES public.\"User\"(id) ON UPDATE CASCADE ON DELETE CASCADE"
        )
    );
    assert!(o.to_string().contains("unnamed constraint FOREIGN KEY"), "{o}");
    let base = world(&[t("Post"), t("User")]);
    let mut w = base.clone();
    w.insert(o.clone(), Found::Present);
    assert_eq!(judge(&a, &w).verdict, Verdict::Applied, "{}", judge(&a, &w).report());
    assert_eq!(judge(&a, &base).verdict, Verdict::NotApplied);
    w.insert(o.clone(), Found::Invalid);
    let ev = judge(&a, &w);
    assert_eq!(ev.verdict, Verdict::Unknown, "{}", ev.report());
    assert!(ev.unknown[0].contains("two or more constraints of this definition"), "{:?}", ev.unknown);
    assert!(ev.unknown[0].contains("line 1: ALTER TABLE"), "{:?}", ev.unknown);
    // Beside a change that did not happen, a copy already there is in the way of a re-run.
    let a = analyse(&format!("ALTER TABLE \"Post\" ADD COLUMN \"x\" INTEGER;\n{sql}"));
    let mut w = base.clone();
    w.insert(unnamed(&a), Found::Present);
    let ev = judge(&a, &w);
    assert_eq!(ev.verdict, Verdict::Partial, "{}", ev.report());
    assert!(ev.rerun_blocker.as_deref().unwrap().contains("would add a second one"), "{}", ev.report());
    // UNIQUE and CHECK too; EXCLUDE and USING INDEX are not.
    for sql in ["ALTER TABLE t ADD UNIQUE (a, b)", "ALTER TABLE t ADD CHECK (a > 0) NOT VALID"] {
        let a = analyse(sql);
        assert!(a.unknown.is_empty(), "{sql}: {:?}", a.unknown);
        unnamed(&a);
    }
}

fn view_def(a: &Analysis) -> Object {
    a.expectations
        .iter()
        .find(|e| matches!(e.object, Object::ViewDef { .. }))
        .map(|e| e.object.clone())
        .unwrap_or_else(|| panic!("no view query: {:#?}", a.expectations))
}

/// A view created again under its name: its query, found another, is "not applied";
/// found the file's, it shows nothing on its own (the old query may have been the same).
#[test]
fn a_recreated_view_is_judged_by_its_query() {
    let sql = "DROP VIEW \"Active\";\nCREATE VIEW \"Active\" AS SELECT \"id\", \"slug\" FROM \"Page\";";
    let a = analyse(sql);
    let before = world(&[view("Active")]);
    let ev = judge(&a, &before);
    assert_eq!(ev.verdict, Verdict::NotApplied, "{}", ev.report());
    let mut w = before.clone();
    w.insert(view_def(&a), Found::Present);
    assert_eq!(judge(&a, &w).verdict, Verdict::Unknown, "{}", judge(&a, &w).report());
    // Could not be compared: as before the comparison.
    w.insert(view_def(&a), Found::Invalid);
    let ev = judge(&a, &w);
    assert_eq!(ev.verdict, Verdict::Unknown, "{}", ev.report());
    assert!(ev.predating.is_empty(), "{}", ev.report());
    // ... also where a re-run changes nothing but sets the view again: safe to run again.
    let a = analyse("ALTER TABLE t ADD COLUMN IF NOT EXISTS c int;\nCREATE OR REPLACE VIEW v AS SELECT c FROM t;");
    let mut w = applied_world(&a);
    w.insert(view_def(&a), Found::Invalid);
    let ev = judge(&a, &w);
    assert_eq!(ev.verdict, Verdict::NotApplied, "{}", ev.report());
    assert!(ev.rule.is_some(), "{}", ev.report());
    // A column list or CHECK OPTION: not compared.
    for sql in
        ["CREATE OR REPLACE VIEW v (a) AS SELECT 1;", "CREATE OR REPLACE VIEW v AS SELECT a FROM t WITH CHECK OPTION;"]
    {
        assert!(!analyse(sql).expectations.iter().any(|e| matches!(e.object, Object::ViewDef { .. })), "{sql}");
    }
}

/// Issue 25 item 3: a file Prisma runs as one transaction whose CREATE TABLE is in place
/// but whose CREATE INDEX and ADD COLUMN are not (a person pasted part of it): partial,
/// "run by hand?", naming the first statement not done. A file of several transactions
/// can be left so by Prisma: no such wording there.
#[test]
fn a_statement_missing_from_a_one_transaction_file_reads_run_by_hand() {
    let sql = "CREATE TABLE \"tiers\" (\"id\" TEXT NOT NULL, CONSTRAINT \"tiers_pkey\" PRIMARY KEY (\"id\"));\n\
               CREATE INDEX \"users_tier_idx\" ON \"users\"(\"tier\");\n\
               ALTER TABLE \"users\" ADD COLUMN \"seats\" INTEGER;";
    let a = analyse(sql);
    let mut w = world(&[t("users"), col("users", "tier"), t("tiers"), col("tiers", "id"), con("tiers", "tiers_pkey")]);
    w.extend(after("CREATE TABLE \"tiers\" (\"id\" TEXT NOT NULL, CONSTRAINT \"tiers_pkey\" PRIMARY KEY (\"id\"));"));
    let ev = judge(&a, &w);
    assert_eq!(ev.verdict, Verdict::Partial, "{}", ev.report());
    let summary = ev.summary();
    assert!(summary.starts_with("partial (run by hand?): "), "{summary}");
    assert!(summary.contains("line 2 is not (CREATE INDEX \"users_tier_idx\" ON \"users\"(\"tier\"): index \"public\".\"users_tier_idx\" does not exist)"), "{summary}");
    assert!(ev.run_by_hand.is_some());
    assert_eq!(serde_json::to_value(&ev).unwrap()["run_by_hand"], serde_json::json!(ev.run_by_hand));
    // The same state of a file of two transactions (a BEGIN ... COMMIT block, then the
    // rest) is one Prisma can leave: plain partial.
    let two = format!("BEGIN;\n{}\nCOMMIT;\nCREATE INDEX \"users_tier_idx\" ON \"users\"(\"tier\");\nALTER TABLE \"users\" ADD COLUMN \"seats\" INTEGER;", sql.lines().next().unwrap());
    let ev = judge(&analyse(&two), &w);
    assert_eq!(ev.run_by_hand, None, "{}", ev.report());
}

/// The names a re-created view's query must show, given as [`Object::ViewDef`]'s `names`.
fn view_names_of(a: &Analysis) -> Vec<String> {
    a.expectations
        .iter()
        .find_map(|e| match &e.object {
            Object::ViewDef { names, .. } => Some(names.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no view query: {:#?}", a.expectations))
}

#[test]
fn a_star_view_made_after_add_column_must_list_the_column() {
    let add = "ALTER TABLE \"public\".\"P\" ADD COLUMN \"img\" text, ADD COLUMN n int;\nDROP VIEW IF EXISTS v;\n";
    let names = |view: &str| view_names_of(&analyse(&format!("{add}CREATE VIEW v AS {view};")));
    let has = |view: &str| {
        let n = names(view);
        n.contains(&"img".to_string()) && n.contains(&"n".to_string())
    };
    // `*` or `alias.*` over the table the columns were added to.
    for view in [
        r#"SELECT *, EXISTS (SELECT 1 FROM "B" WHERE "B"."p" = "P".id) AS "isPublished" FROM "P""#,
        r#"SELECT p.*, b.x FROM public."P" AS p JOIN "B" b ON b.p = p.id WHERE b.x > 1"#,
        r#"SELECT * FROM "B" b, "P""#,
        r#"SELECT ALL "P".* FROM ONLY "P" ORDER BY 1"#,
    ] {
        assert!(has(view), "{view}: {:?}", names(view));
    }
    // Not where the `*` may stand for something else, or not for those columns.
    for view in [
        r#"SELECT * FROM "B""#,
        r#"SELECT b.* FROM "B" b JOIN "P" p ON p.id = b.p"#,
        r#"WITH "P" AS (SELECT 1 AS id) SELECT * FROM "P""#,
        r#"SELECT * FROM "P" UNION ALL SELECT * FROM "P""#,
        r#"SELECT * FROM (SELECT * FROM "P") s"#,
        r#"SELECT * FROM "P" AS p (a, b)"#,
        r#"SELECT DISTINCT * FROM "P""#,
        r#"SELECT count(*) FROM "P""#,
        r#"SELECT * FROM other."P""#,
    ] {
        assert!(!names(view).contains(&"img".to_string()), "{view}: {:?}", names(view));
    }
    // Renamed or dropped since, or after a statement that may have changed the schema: not listed.
    for between in [
        "ALTER TABLE \"P\" RENAME COLUMN \"img\" TO \"image\";",
        "ALTER TABLE \"P\" DROP COLUMN \"img\";",
        "ALTER TABLE \"P\" RENAME TO \"Q\";",
        "SELECT do_something();",
        "DO $$ BEGIN ALTER TABLE \"P\" RENAME COLUMN \"img\" TO \"i\"; END $$;",
    ] {
        let a = analyse(&format!("{add}{between}\nCREATE VIEW v AS SELECT * FROM \"P\";"));
        assert!(!view_names_of(&a).contains(&"img".to_string()), "{between}");
    }
    // A data change in between changes no column.
    let a = analyse(&format!("{add}UPDATE \"P\" SET n = 1;\nCREATE VIEW v AS SELECT * FROM \"P\";"));
    assert!(view_names_of(&a).contains(&"img".to_string()));
}
