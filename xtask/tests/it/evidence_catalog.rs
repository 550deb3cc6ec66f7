//! The evidence's lookups by definition against a real PostgreSQL 15: constraints added
//! without a name (old Prisma's `ADD FOREIGN KEY`) found among their table's
//! constraints, and a re-created view's query compared with `pg_get_viewdef`.

use xtask::testing::db::Target;
use xtask::testing::evidence::{self, Evidence, Verdict};

use crate::evidence::Db;

/// What earlier migrations made, in old Prisma's spelling (unnamed foreign keys).
const BASE: &str = r#"CREATE TABLE "User" (
    "id" TEXT NOT NULL,
    "email" TEXT NOT NULL,
    "name" TEXT,
    PRIMARY KEY ("id")
);
CREATE TABLE "Post" (
    "id" SERIAL NOT NULL,
    "title" TEXT NOT NULL,
    "slug" TEXT,
    "likes" INTEGER NOT NULL DEFAULT 0,
    "published" BOOLEAN NOT NULL DEFAULT false,
    "authorId" TEXT,
    "editorId" TEXT,
    PRIMARY KEY ("id")
);
ALTER TABLE "Post" ADD FOREIGN KEY ("editorId") REFERENCES "User"("id") ON DELETE SET NULL ON UPDATE CASCADE;
INSERT INTO "User" VALUES ('u1', 'a@example.com', 'Ann'), ('u2', 'b@example.com', NULL);
INSERT INTO "Post" ("title", "slug", "likes", "published", "authorId") VALUES
    ('Hello', 'hello', 3, true, 'u1'), ('Draft', NULL, 0, false, 'u2');
CREATE VIEW "PostList" AS SELECT "id", "title" FROM "Post" WHERE "published";
"#;

impl Db {
    /// A new database `name` holding [`BASE`] then `state`, and the evidence for `migration` there.
    fn assess_in(&self, name: &str, state: &str, migration: &str) -> Evidence {
        self.cluster.create_database(name).expect("create database");
        for sql in [BASE, state] {
            if !sql.is_empty() {
                self.cluster.psql(name, &format!("BEGIN;\n{sql}\nCOMMIT;")).unwrap_or_else(|e| panic!("{e:#}\n{sql}"));
            }
        }
        let target = Target::from_url("DATABASE_URL", &self.cluster.url(name), None).unwrap();
        evidence::assess(&target, migration, "public").unwrap_or_else(|f| panic!("{}", f.message))
    }
}

fn listed(list: &[evidence::Expectation]) -> Vec<String> {
    list.iter().map(|e| e.object.describe(e.applied_means)).collect()
}

/// Old Prisma's foreign key without a name, and an unnamed UNIQUE and CHECK: applied and
/// not applied are told by the table's constraints, compared by definition (another
/// ON DELETE is another constraint); two copies of it stay undecided.
#[test]
fn unnamed_constraints_are_looked_up_by_what_they_are() {
    let db = Db::start("ev-unnamed");
    let fkey = r#"-- AddForeignKey
ALTER TABLE "Post" ADD FOREIGN KEY ("authorId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;
"#;
    let none = db.assess_in("f_n", "", fkey);
    assert_eq!(none.verdict, Verdict::NotApplied, "{}", none.report());
    db.cluster.psql("f_n", fkey).expect("the re-run the verdict promises");
    let all = db.assess_in("f_a", fkey, fkey);
    assert_eq!(all.verdict, Verdict::Applied, "{}", all.report());
    assert!(all.rule.is_none(), "checked, not assumed: {}", all.report());
    assert!(listed(&all.present).iter().any(|p| p.contains("unnamed constraint FOREIGN KEY")), "{}", all.report());
    // The same columns with another ON DELETE (the default NO ACTION): another constraint.
    let other = db.assess_in(
        "f_o",
        r#"ALTER TABLE "Post" ADD FOREIGN KEY ("authorId") REFERENCES "User"("id") ON UPDATE CASCADE;"#,
        fkey,
    );
    assert_eq!(other.verdict, Verdict::NotApplied, "{}", other.report());
    // Two copies (it ran twice, or one predates it): which is the file's cannot be told.
    let twice = db.assess_in("f_2", &format!("{fkey}{fkey}"), fkey);
    assert_eq!(twice.verdict, Verdict::Unknown, "{}", twice.report());
    assert!(
        twice.unknown.iter().any(|u| u.contains("two or more constraints of this definition")),
        "{}",
        twice.report()
    );
    // NOT DEFERRABLE is the default, which the server does not print.
    let spelled = fkey.replace(" ON UPDATE CASCADE;", " ON UPDATE CASCADE NOT DEFERRABLE INITIALLY IMMEDIATE;");
    let all = db.assess_in("f_s", &spelled, &spelled);
    assert_eq!(all.verdict, Verdict::Applied, "{}", all.report());

    let keys = r#"-- AlterTable
ALTER TABLE "User" ADD UNIQUE ("email");

-- AlterTable
ALTER TABLE "Post" ADD CHECK ("likes" >= 0);
"#;
    let none = db.assess_in("k_n", "", keys);
    assert_eq!(none.verdict, Verdict::NotApplied, "{}", none.report());
    let all = db.assess_in("k_a", keys, keys);
    assert_eq!(all.verdict, Verdict::Applied, "{}", all.report());
    assert_eq!(all.present.len(), 2, "{}", all.report());
    // The UNIQUE there, the CHECK not: a re-run would add a second UNIQUE.
    let part = db.assess_in("k_p", r#"ALTER TABLE "User" ADD UNIQUE ("email");"#, keys);
    assert_eq!(part.verdict, Verdict::Partial, "{}", part.report());
    assert!(part.rerun_blocker.as_deref().unwrap_or("").contains("second one"), "{}", part.report());
    db.cluster.psql("k_p", keys).expect("the server adds the copy without an error");
    // Another CHECK on the table may be this one as the server prints it: not decided.
    let check = r#"ALTER TABLE "Post" ADD CHECK ("likes" >= 0);"#;
    let bound = r#"ALTER TABLE "Post" ADD CHECK ("likes" < 1000000);"#;
    let other = db.assess_in("k_c", bound, check);
    assert_eq!(other.verdict, Verdict::Unknown, "{}", other.report());
    let both = db.assess_in("k_b", &format!("{bound}\n{check}"), check);
    assert_eq!(both.verdict, Verdict::Applied, "{}", both.report());
    // Beside the UNIQUE not there, the transaction did not commit: not applied.
    assert_eq!(db.assess_in("k_u", bound, keys).verdict, Verdict::NotApplied);
    let copies = db
        .cluster
        .psql("k_p", r#"SELECT count(*) FROM pg_constraint WHERE conrelid = '"User"'::regclass AND contype = 'u';"#)
        .unwrap();
    assert!(copies.contains('2'), "{copies}");
}

/// A view dropped and created again with another query, and one replaced beside a data
/// change that Prisma ran in the same transaction: the live query, certainly another
/// one, is "not applied"; the file's query found shows nothing on its own (the view may
/// have had it before), but it is matched as the server prints it.
#[test]
fn a_recreated_view_is_judged_by_its_query() {
    let db = Db::start("ev-viewdef");
    let recreate = r#"-- DropView
DROP VIEW "PostList";

-- CreateView
CREATE VIEW "PostList" AS
SELECT p."id", p."title", p."slug", u."name" AS "author", count(*) FILTER (WHERE p."likes" > 0) AS "liked"
FROM "Post" AS p LEFT OUTER JOIN "User" u ON u."id" = p."authorId"
WHERE p."published" AND p."title" LIKE 'H%' AND u."email" IN ('a@example.com', 'b@example.com')
GROUP BY p."id", u."name"
ORDER BY p."id" ASC;
"#;
    let none = db.assess_in("v_n", "", recreate);
    assert_eq!(none.verdict, Verdict::NotApplied, "{}", none.report());
    assert!(listed(&none.missing).iter().any(|m| m.contains("has the query of the file")), "{}", none.report());
    db.cluster.psql("v_n", recreate).expect("the re-run the verdict promises");
    let all = db.assess_in("v_a", recreate, recreate);
    assert_ne!(all.verdict, Verdict::NotApplied, "{}", all.report());
    assert_ne!(all.verdict, Verdict::Partial, "{}", all.report());
    // Matched in the server's spelling (qualifiers, casts, OUTER, IN, LIKE, aliases).
    assert!(listed(&all.present).iter().any(|p| p.contains("has the query of the file")), "{}", all.report());

    let replace = r#"CREATE OR REPLACE VIEW "PostList" AS SELECT "id", "title", "slug" FROM "Post" WHERE "published";
UPDATE "Post" SET "slug" = lower("title") WHERE "slug" IS NULL;
"#;
    let none = db.assess_in("r_n", "", replace);
    assert_eq!(none.verdict, Verdict::NotApplied, "{}", none.report());
    let all = db.assess_in("r_a", replace, replace);
    assert_eq!(all.verdict, Verdict::Unknown, "{}", all.report());
    // Only a constant differs: neither the same nor certainly another query, so not counted.
    let constant = r#"DROP VIEW "PostList";
CREATE VIEW "PostList" AS SELECT "id", "title" FROM "Post" WHERE NOT "published";"#;
    let ev = db.assess_in("c_n", "", constant);
    assert_eq!(ev.verdict, Verdict::Unknown, "{}", ev.report());
}

/// Issue 25: a view re-created with `SELECT *` after the file adds a column to its table
/// (webstudio's `DashboardProject`). The server prints `*` as the columns the table had
/// when the view was made, so the old view, made before the column, lacks it: with the
/// ADD COLUMN pasted by hand and the view not made again, the state reads "partial (run
/// by hand?)", not "applied" as the transactional rule alone said. Run whole, applied;
/// not run, not applied. A `*` over a table the file does not change shows nothing.
#[test]
fn a_select_star_view_made_again_after_add_column_is_judged_by_its_columns() {
    let db = Db::start("ev-starview");
    let old = r#"CREATE VIEW "PostFeed" AS
SELECT *, EXISTS (SELECT 1 FROM "User" WHERE "User"."id" = "Post"."authorId") AS "hasAuthor" FROM "Post";"#;
    let add = r#"ALTER TABLE "public"."Post" ADD COLUMN "coverId" TEXT;
"#;
    let file = format!("{add}\n-- Update the view\nDROP VIEW IF EXISTS \"PostFeed\";\n{old}\n");
    let none = db.assess_in("s_n", old, &file);
    assert_eq!(none.verdict, Verdict::NotApplied, "{}", none.report());
    db.cluster.psql("s_n", &file).expect("the re-run the verdict promises");

    let half = db.assess_in("s_h", &format!("{old}\n{add}"), &file);
    assert_eq!(half.verdict, Verdict::Partial, "{}", half.report());
    assert!(half.summary().starts_with("partial (run by hand?)"), "{}", half.summary());
    assert!(
        listed(&half.missing).iter().any(|m| m == "view \"public\".\"PostFeed\" has the query of the file"),
        "{}",
        half.report()
    );

    let all = db.assess_in("s_a", &format!("{old}\n{file}"), &file);
    assert_eq!(all.verdict, Verdict::Applied, "{}", all.report());

    // `p.*` over an alias of the table, beside a join: the same.
    let aliased = r#"CREATE VIEW "PostAuthors" AS
SELECT p.*, u."name" AS "author" FROM "Post" AS p LEFT JOIN "User" u ON u."id" = p."authorId";"#;
    let file = format!("{add}DROP VIEW \"PostAuthors\";\n{aliased}\n");
    let half = db.assess_in("p_h", &format!("{aliased}\n{add}"), &file);
    assert_eq!(half.verdict, Verdict::Partial, "{}", half.report());
    let all = db.assess_in("p_a", &format!("{aliased}\n{file}"), &file);
    assert_eq!(all.verdict, Verdict::Applied, "{}", all.report());

    // The column added to another table than the one under `*`: the view's columns show
    // nothing, and the rule decides as before.
    let other = r#"ALTER TABLE "User" ADD COLUMN "bio" TEXT;
"#;
    let file = format!("{other}DROP VIEW IF EXISTS \"PostFeed\";\n{old}\n");
    let half = db.assess_in("o_h", &format!("{old}\n{other}"), &file);
    assert_eq!(half.verdict, Verdict::Applied, "{}", half.report());
    assert!(half.rule.is_some(), "{}", half.report());
}

/// Issue 25: a `CREATE OR REPLACE FUNCTION` with argument defaults (webstudio's
/// `database_cleanup`), which was not checked at all. Its absence shows that the
/// statement has not run, and so does a function of its arguments whose defaults are
/// not the file's (here, the version before it, without defaults); its body, attributes
/// and defaults found are only consistent with it having run. With the ADD COLUMN
/// beside it pasted by hand, "partial (run by hand?)"; run whole, "applied".
#[test]
fn a_replaced_function_with_argument_defaults_is_checked() {
    let db = Db::start("ev-fndefaults");
    let add = "ALTER TABLE \"Post\" ADD COLUMN \"archived\" BOOLEAN DEFAULT FALSE;\n";
    let function = |defaults: bool| {
        let (from, limit) = if defaults { (" DEFAULT '2020-01-01 00:00:00'", " = 100 -- at most") } else { ("", "") };
        format!(
            "CREATE OR REPLACE FUNCTION archive_posts(\n  from_date timestamp{from},\n  OUT archived_count integer,\n  \
             max_posts integer{limit}\n) RETURNS integer AS $$\nBEGIN\n  UPDATE \"Post\" SET \"archived\" = TRUE WHERE \"id\" <= max_posts;\n  \
             GET DIAGNOSTICS archived_count = ROW_COUNT;\nEND;\n$$ LANGUAGE plpgsql;\n"
        )
    };
    let file = format!("{add}\n{}", function(true));
    let none = db.assess_in("f_n", "", &file);
    assert_eq!(none.verdict, Verdict::NotApplied, "{}", none.report());
    db.cluster.psql("f_n", &file).expect("the re-run the verdict promises");

    let half = db.assess_in("f_h", add, &file);
    assert_eq!(half.verdict, Verdict::Partial, "{}", half.report());
    assert!(half.summary().starts_with("partial (run by hand?)"), "{}", half.summary());
    assert!(half.summary().contains("\"archive_posts\"(timestamp, int4)"), "{}", half.summary());

    // The version before it, with the same body but no defaults: not this statement's.
    let before = db.assess_in("f_b", &format!("{}{add}", function(false)), &file);
    assert_eq!(before.verdict, Verdict::Partial, "{}", before.report());
    assert!(before.summary().starts_with("partial (run by hand?)"), "{}", before.summary());

    let all = db.assess_in("f_a", &file, &file);
    assert_eq!(all.verdict, Verdict::Applied, "{}", all.report());
    assert!(
        listed(&all.present)
            .iter()
            .any(|p| p.starts_with("function \"public\".\"archive_posts\"(timestamp, int4) has")),
        "{}",
        all.report()
    );

    // One it cannot compare (an attribute not read): checked by its presence alone.
    let set =
        "CREATE OR REPLACE FUNCTION touch_posts() RETURNS void AS $$ UPDATE \"Post\" SET \"archived\" = FALSE $$ \
               LANGUAGE sql SET search_path = public;\n";
    let file = format!("{add}{set}");
    let half = db.assess_in("t_h", add, &file);
    assert_eq!(half.verdict, Verdict::Partial, "{}", half.report());
    assert!(half.summary().starts_with("partial (run by hand?)"), "{}", half.summary());
    let all = db.assess_in("t_a", &file, &file);
    assert_eq!(all.verdict, Verdict::Applied, "{}", all.report());
}
