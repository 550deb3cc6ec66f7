//! Prisma's error texts as recorded with the native schema engine (Prisma 6.19.3
//! and 7.10.1, `/work/shared/notes/prisma-native-outputs.md`) and the 7.x-only
//! texts: each is recognised as what it is (the failed row's native `logs` are
//! read in `migrations`' tests). CI cannot run the native engine or
//! Prisma 7, so these recorded outputs are the test.

use super::{problem, Problem};

/// deploy, second migration fails (stderr, both CLIs; 7.x adds the config lines).
const P3018: &str = r#"Loaded Prisma config from prisma.config.ts.

Prisma schema loaded from src/prisma/db/schema.prisma.
Error: P3018

A migration failed to apply. New migrations cannot be applied before the error is recovered from. Read more about how to resolve migration issues in a production database: https://pris.ly/d/migrate-resolve

Migration name: 20260221053404_add_missing_models

Database error code: 42710

Database error:
ERROR: type "attendance_status" already exists

DbError { severity: "ERROR", parsed_severity: Some(Error), code: SqlState(E42710), message: "type \"attendance_status\" already exists", detail: None, hint: None, position: None, where_: None, schema: None, table: None, column: None, datatype: None, constraint: None, file: Some("typecmds.c"), line: Some(1167), routine: Some("DefineEnum") }
"#;

const P3009: &str = r#"Loaded Prisma config from prisma.config.ts.

Prisma schema loaded from src/prisma/db/schema.prisma.
Error: P3009

migrate found failed migrations in the target database, new migrations will not be applied. Read more about how to resolve migration issues in a production database: https://pris.ly/d/migrate-resolve
The `20260221053404_add_missing_models` migration started at 2026-12-02 15:50:54.979088 UTC failed
"#;

const STATUS_FAILED: &str = r#"Prisma schema loaded from src/prisma/db/schema.prisma.
Following migration have failed:
20260221053404_add_missing_models

During development if the failed migration(s) have not been deployed to a production database you can then fix the migration(s) and run prisma migrate dev.

The failed migration(s) can be marked as rolled back or applied:

- If you rolled back the migration(s) manually:
prisma migrate resolve --rolled-back "20260221053404_add_missing_models"
"#;

const P3008: &str = "Error: P3008\n\nThe migration `20260221053404_add_missing_models` is already recorded as applied in the database.\n";

const P1001: &str = "Prisma schema loaded from src/prisma/db/schema.prisma.\nError: P1001: Can't reach database server at `127.0.0.1:1`\n\nPlease make sure your database server is running at `127.0.0.1:1`.\n";

const P1000: &str = "Error: P1000: Authentication failed against database server, the provided database credentials for `schooliat` are not valid.\n\nPlease make sure to provide valid database credentials for the database server at the configured address.\n";

const NO_CREATEDB: &str = "Loaded Prisma config from prisma.config.ts.\n\nPrisma schema loaded from src/prisma/db/schema.prisma.\nError: Schema engine error:\nERROR: permission denied to create database\n";

const P7_ENV_UNSET: &str = "Failed to load config file \"/srv/app\" as a TypeScript/JavaScript module. Error: PrismaConfigEnvError: Cannot resolve environment variable: DATABASE_URL.\n";

const P7_NO_URL: &str = "Prisma schema loaded from src/prisma/db/schema.prisma.\nError: The datasource.url property is required in your Prisma config file when using prisma migrate deploy.\n";

const P7_URL_IN_SCHEMA: &str = "Prisma schema loaded from src/prisma/db/schema.prisma.\nError: Prisma schema validation - (get-config wasm)\nError code: P1012\nerror: The datasource property `url` is no longer supported in schema files. Move connection URLs for Migrate to `prisma.config.ts` and pass either `adapter` for a direct database connection or `accelerateUrl` for Accelerate to the `PrismaClient` constructor. See https://pris.ly/d/config-datasource and https://pris.ly/d/prisma7-client-config\n  -->  src/prisma/db/schema.prisma:8\n";

const P7_NO_ENGINE: &str = "Loaded Prisma config from prisma.config.ts.\n\nError: request to https://binaries.example/all_commits/d1b3f377ca835d73fd50954a5e22128b9ebdd6b8/debian-openssl-3.0.x/schema-engine.gz.sha256 failed, reason: getaddrinfo ENOTFOUND binaries.example\n";

#[test]
fn every_recorded_native_and_7x_text_is_recognised() {
    let cases = [
        (P3018, Problem::MigrationFailedToApply),
        (P3009, Problem::FailedMigrationRecorded),
        (STATUS_FAILED, Problem::FailedMigrationRecorded),
        (P3008, Problem::AlreadyApplied),
        (P1001, Problem::Unreachable),
        (P1000, Problem::Authentication),
        (NO_CREATEDB, Problem::NoDatabase),
        (P7_ENV_UNSET, Problem::ConfigError),
        (P7_NO_URL, Problem::ConfigError),
        (P7_URL_IN_SCHEMA, Problem::SchemaError),
        (P7_NO_ENGINE, Problem::EngineUnavailable),
    ];
    for (text, expected) in cases {
        assert_eq!(problem(text), expected, "{text}");
    }
    // 7.x moved the config and schema lines to stderr and added a Datasource line to
    // stdout: recognition reads both streams together, and these lines alone are no problem.
    let chatter = "Datasource \"db\": PostgreSQL database \"schooliat7\", schema \"public\" at \"127.0.0.1:56015\"\n\n2 migrations found in prisma/migrations\nLoaded Prisma config from prisma.config.ts.\n\nPrisma schema loaded from src/prisma/db/schema.prisma.\n";
    assert_eq!(problem(chatter), Problem::Other);
    assert_eq!(problem(&format!("{chatter}{P3009}")), Problem::FailedMigrationRecorded);
}
