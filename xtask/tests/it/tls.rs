//! The tool's own queries and pg_dump reach a TLS-only setup the same way:
//! `sslmode=verify-full` with `sslrootcert`, and Prisma's `sslcert` (its CA
//! certificate, relative to the schema's folder) translated to libpq's `sslrootcert`.

use pgcluster::{Cluster, ClusterOptions};

use crate::harness::Project;

fn tls_cluster() -> Cluster {
    let base = std::env::temp_dir().join(format!("xtask-it-tls-{}", std::process::id()));
    let c = Cluster::start(&base, &ClusterOptions { tls: true, superuser_password: "tls-pw-1".into() }).unwrap();
    c.create_database("app").unwrap();
    c
}

const TASKS: &str = "[prisma]\nschema = \"prisma/schema.prisma\"\n\n[backup]\ndir = \"backups\"\n\n[tasks.status]\nuses = \"status\"\n\n[tasks.backup]\nuses = \"backup\"\n";

#[test]
fn verify_full_works_for_queries_and_dumps_and_a_wrong_ca_is_refused() {
    let c = tls_cluster();
    let p = Project::new(TASKS);
    p.file("prisma/migrations/1_a/migration.sql", "CREATE TABLE a (id int);\n");
    let ca = c.root_cert().unwrap();
    std::fs::copy(&ca, p.path().join("prisma/ca.pem")).unwrap();

    // libpq's own parameters.
    let url = format!("{}?schema=public&sslmode=verify-full&sslrootcert={}", c.url("app"), ca.display());
    let out = p.xtask().arg("status").env("DATABASE_URL", &url).run();
    out.expect_code(6);
    assert!(out.stdout.contains("pending      1_a"), "{}", out.stdout);
    p.xtask().arg("backup").env("DATABASE_URL", &url).run().expect_code(0);

    // Prisma's spelling: sslcert is the CA, relative to the schema's folder.
    let prisma_url = format!("{}?schema=public&sslmode=verify-full&sslcert=ca.pem&sslaccept=strict", c.url("app"));
    p.xtask().arg("status").env("DATABASE_URL", &prisma_url).run().expect_code(6);

    // A CA that did not sign the server's certificate: refused, exit 3, said why.
    let bogus = p.path().join("wrong.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=other",
            "-days",
            "1",
            "-keyout",
        ])
        .arg(p.path().join("wrong.key"))
        .arg("-out")
        .arg(&bogus)
        .output()
        .unwrap();
    assert!(made.status.success());
    let wrong = format!("{}?sslmode=verify-full&sslrootcert={}", c.url("app"), bogus.display());
    let out = p.xtask().arg("status").env("DATABASE_URL", &wrong).run();
    out.expect_code(3);
    assert!(out.stderr.contains("TLS connection") && out.stderr.contains("certificate"), "{}", out.stderr);
    let out = p.xtask().arg("backup").env("DATABASE_URL", &wrong).run();
    assert_ne!(out.code, Some(0));
    assert!(!out.all().contains("tls-pw-1"));

    // Issue 24, item 7: verify-full with no root certificate (none in the URL and
    // none in ~/.postgresql, or one named that does not exist) is a TLS failure
    // like the others: exit 3 with the cause and what to give, not exit 1.
    let home = p.path().join("empty-home");
    std::fs::create_dir_all(&home).unwrap();
    for missing in [
        format!("{}?sslmode=verify-full", c.url("app")),
        format!("{}?sslmode=verify-full&sslrootcert={}", c.url("app"), p.path().join("no-such-ca.pem").display()),
    ] {
        for task in ["status", "backup"] {
            let out = p.xtask().arg(task).env("DATABASE_URL", &missing).env("HOME", &home).run();
            out.expect_code(3);
            assert!(out.stderr.contains("TLS connection to postgres@127.0.0.1:"), "{task}: {}", out.stderr);
            assert!(out.stderr.contains("root certificate"), "{task}: {}", out.stderr);
            assert!(!out.all().contains("tls-pw-1"));
        }
    }
}
