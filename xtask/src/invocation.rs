//! How the user ran the tool, so usage lines and every piece of advice name the
//! command they can type again: `cargo xtask deploy` through cargo's alias,
//! `xtask deploy` for an installed binary (or whatever its file is called).

use std::sync::OnceLock;

static NAME: OnceLock<String> = OnceLock::new();

/// The command as invoked, from the program name (`argv[0]`) and whether cargo
/// started it: `cargo run` (behind the `cargo xtask` alias) sets `CARGO` for the
/// program it runs; an installed binary started from a shell has no `CARGO`.
pub(crate) fn detect(argv0: Option<&str>, cargo_env: Option<&std::ffi::OsStr>) -> String {
    if cargo_env.is_some_and(|c| !c.is_empty()) {
        return "cargo xtask".into();
    }
    let file = argv0
        .map(std::path::Path::new)
        .and_then(|p| p.file_name())
        .map(|f| f.to_string_lossy().into_owned())
        .filter(|f| !f.is_empty());
    match file {
        // Installed as a cargo subcommand (`cargo-xtask`), it is typed `cargo xtask`.
        Some(f) if f == "cargo-xtask" => "cargo xtask".into(),
        Some(f) => f,
        None => "xtask".into(),
    }
}

/// Records the name for this process; the first call wins.
pub(crate) fn init(argv0: Option<&str>) {
    let _ = NAME.set(detect(argv0, std::env::var_os("CARGO").as_deref()));
}

/// The command to type, e.g. `cargo xtask` or `xtask`.
pub(crate) fn name() -> &'static str {
    NAME.get().map(String::as_str).unwrap_or("cargo xtask")
}

/// `rest` prefixed with the command to type: `cmd("deploy")` is `cargo xtask deploy`.
pub(crate) fn cmd(rest: &str) -> String {
    if rest.is_empty() {
        name().to_string()
    } else {
        format!("{} {rest}", name())
    }
}

/// Replaces the `{xtask}` placeholder of static help texts with the command.
pub(crate) fn fill(text: &str) -> String {
    text.replace("{xtask}", name())
}

#[cfg(test)]
mod tests {
    use super::detect;
    use std::ffi::OsStr;

    #[test]
    fn cargo_alias_and_installed_binary_are_named_as_typed() {
        assert_eq!(detect(Some("/repo/target/debug/xtask"), Some(OsStr::new("/usr/bin/cargo"))), "cargo xtask");
        assert_eq!(detect(Some("/usr/local/bin/xtask"), None), "xtask");
        assert_eq!(detect(Some("xtask"), Some(OsStr::new(""))), "xtask");
        assert_eq!(detect(Some("/opt/bin/db-deploy"), None), "db-deploy");
        assert_eq!(detect(Some("/home/u/.cargo/bin/cargo-xtask"), None), "cargo xtask");
        assert_eq!(detect(None, None), "xtask");
    }
}
