//! The derivation on Prisma-generated and hand-written statements.

use super::derive::*;

fn one(sql: &str) -> Derived {
    derive(&[("20260101000000_m".to_string(), sql.to_string())], "public")
}

fn rel(name: &str) -> Rel {
    Rel { schema: "public".into(), name: name.into() }
}

#[test]
fn prisma_not_null_column_without_default_needs_an_empty_table() {
    let d = one("-- AlterTable\nALTER TABLE \"User\" ADD COLUMN     \"role\" \"Role\" NOT NULL;\n");
    assert_eq!(d.checks.len(), 1, "{d:?}");
    assert_eq!(d.checks[0].table, rel("User"));
    assert_eq!(d.checks[0].need, Need::NoRows);
    assert_eq!(d.checks[0].place.line, 2);
    let d = one(
        "ALTER TABLE \"User\" ADD COLUMN \"role\" \"Role\" NOT NULL DEFAULT 'USER', ADD COLUMN \"n\" SERIAL NOT NULL;",
    );
    assert!(d.checks.is_empty() && d.unchecked.is_empty(), "{d:?}");
}

#[test]
fn each_form_gets_its_check() {
    let d = one(
        "ALTER TABLE \"Post\" ALTER COLUMN \"title\" SET NOT NULL;\n\
         CREATE UNIQUE INDEX \"User_email_key\" ON \"User\"(\"email\");\n\
         ALTER TABLE \"Post\" ADD CONSTRAINT \"Post_authorId_fkey\" FOREIGN KEY (\"authorId\") REFERENCES \"User\"(\"id\") ON DELETE RESTRICT ON UPDATE CASCADE;\n\
         ALTER TABLE \"Post\" ADD CONSTRAINT \"pos\" CHECK (views >= 0);\n\
         ALTER TABLE \"Post\" ALTER COLUMN \"views\" SET DATA TYPE INTEGER USING \"views\"::integer;\n\
         ALTER TABLE \"Post\" ALTER COLUMN \"slug\" SET DATA TYPE VARCHAR(20);\n\
         ALTER TABLE \"Post\" ADD CONSTRAINT \"Post_a_b_key\" UNIQUE (\"a\", \"b\");\n",
    );
    let needs: Vec<&Need> = d.checks.iter().map(|c| &c.need).collect();
    assert_eq!(needs.len(), 7, "{d:?}");
    assert_eq!(needs[0], &Need::NotNull { column: "title".into() });
    assert_eq!(needs[1], &Need::Unique { columns: vec!["email".into()], nulls_distinct: true, partial: None });
    assert!(matches!(needs[2], Need::References { target, target_empty: false, .. } if *target == rel("User")));
    assert_eq!(needs[3], &Need::Satisfies { expr: "views >= 0".into() });
    assert!(matches!(needs[4], Need::Converts { to, using: Some(_), .. } if to == "INTEGER"));
    assert_eq!(needs[5], &Need::FitsLength { column: "slug".into(), max: 20 });
    assert!(matches!(needs[6], Need::Unique { columns, .. } if columns.len() == 2));
    assert!(d.unchecked.is_empty(), "{:?}", d.unchecked);
}

#[test]
fn prisma_enum_value_removal_checks_the_kept_values() {
    let d = one(
        "BEGIN;\nCREATE TYPE \"Role_new\" AS ENUM ('USER', 'ADMIN');\n\
         ALTER TABLE \"User\" ALTER COLUMN \"role\" DROP DEFAULT;\n\
         ALTER TABLE \"User\" ALTER COLUMN \"role\" TYPE \"Role_new\" USING (\"role\"::text::\"Role_new\");\n\
         ALTER TYPE \"Role\" RENAME TO \"Role_old\";\nALTER TYPE \"Role_new\" RENAME TO \"Role\";\nDROP TYPE \"Role_old\";\n\
         ALTER TABLE \"User\" ALTER COLUMN \"role\" SET DEFAULT 'USER';\nCOMMIT;\n",
    );
    assert_eq!(d.checks.len(), 1, "{d:?}");
    assert_eq!(
        d.checks[0].need,
        Need::InEnum { column: "role".into(), values: vec!["USER".into(), "ADMIN".into()], array: false }
    );
    assert!(d.unchecked.is_empty(), "{:?}", d.unchecked);
}

#[test]
fn a_table_created_earlier_in_the_deploy_is_empty() {
    let batch = [
        ("1_create".to_string(), "CREATE TABLE \"Tag\" (\"id\" SERIAL NOT NULL, CONSTRAINT \"Tag_pkey\" PRIMARY KEY (\"id\"));".to_string()),
        ("2_alter".to_string(), "ALTER TABLE \"Tag\" ADD COLUMN \"name\" TEXT NOT NULL;\nCREATE UNIQUE INDEX \"Tag_name_key\" ON \"Tag\"(\"name\");".to_string()),
    ];
    let d = derive(&batch, "public");
    assert!(d.checks.is_empty(), "{d:?}");
    assert_eq!(d.empty.len(), 2);
    // A foreign key to a table created in the deploy: any set value is an orphan.
    let d = derive(
        &[("1".into(), "CREATE TABLE \"Team\" (\"id\" INT);\nALTER TABLE \"User\" ADD CONSTRAINT f FOREIGN KEY (\"teamId\") REFERENCES \"Team\"(\"id\");".into())],
        "public",
    );
    assert!(matches!(&d.checks[0].need, Need::References { target_empty: true, .. }), "{d:?}");
}

#[test]
fn rows_changed_earlier_are_not_checked_and_say_why() {
    let d = one(
        "ALTER TABLE \"User\" ADD COLUMN \"slug\" TEXT;\nUPDATE \"User\" SET \"slug\" = \"id\"::text;\nALTER TABLE \"User\" ALTER COLUMN \"slug\" SET NOT NULL;\n",
    );
    assert!(d.checks.is_empty(), "{d:?}");
    assert_eq!(d.unchecked.len(), 2, "{:?}", d.unchecked);
    assert!(d.unchecked[1].why.contains("UPDATE at 20260101000000_m:2"), "{:?}", d.unchecked);
    // Added nullable, then SET NOT NULL with no backfill: the table must be empty.
    let d = one(
        "ALTER TABLE \"User\" ADD COLUMN \"slug\" TEXT;\nALTER TABLE \"User\" ALTER COLUMN \"slug\" SET NOT NULL;\n",
    );
    assert_eq!(d.checks[0].need, Need::NoRows);
    // A DO block may do anything: what follows is not checked.
    let d = one("DO $$ BEGIN UPDATE t SET a = 1; END $$;\nALTER TABLE t ALTER COLUMN a SET NOT NULL;");
    assert!(d.checks.is_empty() && d.unchecked.len() == 2, "{d:?}");
}

#[test]
fn statements_without_data_needs_are_silent_and_unknown_forms_are_listed() {
    let d = one("CREATE TYPE \"Role\" AS ENUM ('A');\nCREATE INDEX \"i\" ON \"User\"(\"a\");\nDROP INDEX \"j\";\n\
         ALTER TABLE \"User\" DROP COLUMN \"x\", ADD COLUMN \"y\" TEXT, ALTER COLUMN \"z\" SET DEFAULT 1;\n\
         ALTER TYPE \"Role\" ADD VALUE 'B';\nALTER TABLE \"User\" ALTER COLUMN \"t\" TYPE TEXT;\n\
         CREATE UNIQUE INDEX \"e\" ON \"User\"(lower(\"email\"));\nIMPORT FOREIGN SCHEMA x FROM SERVER s INTO y;\n");
    assert!(d.checks.is_empty(), "{d:?}");
    let lines: Vec<usize> = d.unchecked.iter().map(|u| u.place.line).collect();
    assert_eq!(lines, [7, 8], "{:?}", d.unchecked);
}

#[test]
fn primary_keys_need_no_nulls_and_no_duplicates() {
    let d = one("ALTER TABLE \"t\" ADD CONSTRAINT \"t_pkey\" PRIMARY KEY (\"a\", \"b\");");
    assert_eq!(d.checks.len(), 3, "{d:?}");
    let d = one("ALTER TABLE ONLY public.t ADD CONSTRAINT u UNIQUE NULLS NOT DISTINCT (a);");
    assert_eq!(d.checks[0].need, Need::Unique { columns: vec!["a".into()], nulls_distinct: false, partial: None });
    let d = one("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS u ON app.t USING btree (a) WHERE deleted_at IS NULL;");
    assert_eq!(d.checks[0].table, Rel { schema: "app".into(), name: "t".into() });
    assert_eq!(
        d.checks[0].need,
        Need::Unique { columns: vec!["a".into()], nulls_distinct: true, partial: Some("deleted_at IS NULL".into()) }
    );
}

/// For `scripts/bench-datacheck.sh`: prints the query of each check the migration in
/// `$DATACHECK_SQL` derives, one per line (`CHECK<TAB>line<TAB>query`).
#[test]
#[ignore]
fn print_check_queries() {
    let Ok(path) = std::env::var("DATACHECK_SQL") else {
        return;
    };
    let sql = std::fs::read_to_string(path).unwrap();
    let d = derive(&[("bench".to_string(), sql)], "public");
    for (i, c) in d.checks.iter().enumerate() {
        println!("CHECK\t{}\t{}", c.place.line, super::probe::query(i, c));
    }
}

#[test]
fn a_check_reading_a_column_added_in_the_deploy_is_not_checked() {
    let d = one("ALTER TABLE t ADD COLUMN b INT;\nALTER TABLE t ADD CONSTRAINT c1 CHECK (a > 0);\nALTER TABLE t ADD CONSTRAINT c2 CHECK (b > 0);");
    assert_eq!(d.checks.len(), 1, "{d:?}");
    assert_eq!(d.checks[0].place.line, 2);
    assert!(d.unchecked[0].why.contains("reads b"), "{:?}", d.unchecked);
}
