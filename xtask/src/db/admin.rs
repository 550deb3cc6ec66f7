//! Databases on the target's server: whether one exists, creating, dropping and
//! re-creating one (restores, scratch databases). These statements run from the
//! server's maintenance database, since a session cannot drop its own database.

use super::Target;
use crate::exit::Failure;

/// The same server's maintenance database.
fn maintenance(target: &Target) -> Target {
    // CREATE/DROP DATABASE run from another database of the same server.
    let other = if target.url.database == "postgres" { "template1" } else { "postgres" };
    target.with_database(other)
}

/// Whether database `name` exists on the target's server.
pub(crate) fn database_exists(target: &Target, name: &str) -> Result<bool, Failure> {
    let rows = maintenance(target).query_n::<1>("SELECT 1 FROM pg_database WHERE datname = :'db';", &[("db", name)])?;
    Ok(!rows.is_empty())
}

/// `CREATE DATABASE name` on the target's server.
pub(crate) fn create(target: &Target, name: &str) -> Result<(), Failure> {
    maintenance(target)
        .query("CREATE DATABASE :\"db\";", &[("db", name)])
        .map(|_| ())
        .map_err(|f| Failure::new(f.exit, format!("cannot create database `{name}`: {}", f.message)))
}

/// `CREATE DATABASE name` and `COMMENT ON DATABASE name IS mark`, in one psql
/// start (the scratch databases: the comment says who made it).
pub(crate) fn create_marked(target: &Target, name: &str, mark: &str) -> Result<(), Failure> {
    maintenance(target)
        .query("CREATE DATABASE :\"db\";\nCOMMENT ON DATABASE :\"db\" IS :'mark';", &[("db", name), ("mark", mark)])
        .map(|_| ())
        .map_err(|f| Failure::new(f.exit, format!("cannot create database `{name}`: {}", f.message)))
}

/// `DROP DATABASE IF EXISTS name WITH (FORCE)` on the target's server.
pub(crate) fn drop_database(target: &Target, name: &str) -> Result<(), Failure> {
    maintenance(target).query("DROP DATABASE IF EXISTS :\"db\" WITH (FORCE);", &[("db", name)]).map(|_| ())
}

/// Drops database `name` if it exists and creates it empty.
pub(crate) fn recreate(target: &Target, name: &str) -> Result<(), Failure> {
    drop_database(target, name)
        .map_err(|f| Failure::new(f.exit, format!("cannot drop database `{name}`: {}", f.message)))?;
    create(target, name)
}

/// The connecting role's name and whether it may create databases (CREATEDB or superuser).
pub(crate) fn may_create_databases(target: &Target) -> Result<(String, bool), Failure> {
    let rows = target.query_n::<2>(
        "SELECT current_user, (rolcreatedb OR rolsuper)::text FROM pg_roles WHERE rolname = current_user;",
        &[],
    )?;
    Ok(match rows.into_iter().next() {
        Some([user, may]) => (user.unwrap_or_default(), may.as_deref() == Some("true")),
        None => (String::new(), false),
    })
}
