//! The JavaScript package manager an app uses (from its lock file, else
//! `package.json`'s `packageManager`), and the command that installs the app's
//! pinned dependencies with it: the advice a missing Prisma CLI gets names the
//! team's own tool, not npm for a pnpm app.

use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PackageManager {
    Npm,
    Pnpm,
    Yarn,
    Bun,
}

impl PackageManager {
    /// The lock files, in the order they are looked for.
    const LOCK_FILES: [(&'static str, PackageManager); 5] = [
        ("pnpm-lock.yaml", PackageManager::Pnpm),
        ("yarn.lock", PackageManager::Yarn),
        ("bun.lockb", PackageManager::Bun),
        ("bun.lock", PackageManager::Bun),
        ("package-lock.json", PackageManager::Npm),
    ];

    /// The lock file of this package manager in `dir`, if there is one.
    pub(crate) fn lock_file(self, dir: &Path) -> Option<&'static str> {
        Self::LOCK_FILES.iter().find(|(f, pm)| *pm == self && dir.join(f).is_file()).map(|(f, _)| *f)
    }

    /// The package manager whose lock file is in `dir`.
    pub(crate) fn by_lock_file(dir: &Path) -> Option<PackageManager> {
        Self::LOCK_FILES.iter().find(|(f, _)| dir.join(f).is_file()).map(|(_, pm)| *pm)
    }

    /// The package manager a `packageManager` field names (`"pnpm@9.1.0"`, corepack's form).
    pub(crate) fn by_field(field: &str) -> Option<PackageManager> {
        [
            ("pnpm", PackageManager::Pnpm),
            ("yarn", PackageManager::Yarn),
            ("bun", PackageManager::Bun),
            ("npm", PackageManager::Npm),
        ]
        .into_iter()
        .find(|(n, _)| field.starts_with(&format!("{n}@")))
        .map(|(_, pm)| pm)
    }

    /// The package manager of the app that runs in `dir`: the nearest lock file in
    /// `dir` or above (a workspace keeps one at its root), else the nearest
    /// `package.json`'s `packageManager` field.
    pub(crate) fn of_app(dir: &Path) -> Option<PackageManager> {
        dir.ancestors().find_map(Self::by_lock_file).or_else(|| {
            dir.ancestors().find_map(|d| {
                let text = std::fs::read_to_string(d.join("package.json")).ok()?;
                let json: serde_json::Value = serde_json::from_str(&text).ok()?;
                Self::by_field(json.get("packageManager")?.as_str()?)
            })
        })
    }

    /// The command that installs exactly the locked dependencies.
    pub(crate) fn frozen_install(self) -> &'static str {
        match self {
            PackageManager::Npm => "npm ci",
            PackageManager::Pnpm => "pnpm install --frozen-lockfile",
            PackageManager::Yarn => "yarn install --frozen-lockfile",
            PackageManager::Bun => "bun install --frozen-lockfile",
        }
    }
}

/// How to install the dependencies of the app that runs in `dir`, as advice:
/// its own package manager's frozen install, `npm ci` when none is found.
pub(crate) fn install_advice(dir: &Path) -> &'static str {
    PackageManager::of_app(dir).unwrap_or(PackageManager::Npm).frozen_install()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "xtask-packages-{}-{}",
            std::process::id(),
            files.iter().map(|(f, _)| f.replace('/', "_")).collect::<Vec<_>>().join("+")
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for (f, text) in files {
            let p = dir.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        std::fs::create_dir_all(dir.join("apps/api")).unwrap();
        dir
    }

    #[test]
    fn advice_names_the_apps_own_package_manager() {
        let pnpm = dir_with(&[("pnpm-lock.yaml", ""), ("apps/api/package.json", "{}")]);
        assert_eq!(install_advice(&pnpm.join("apps/api")), "pnpm install --frozen-lockfile");
        let yarn = dir_with(&[("yarn.lock", "")]);
        assert_eq!(install_advice(&yarn.join("apps/api")), "yarn install --frozen-lockfile");
        let corepack = dir_with(&[("package.json", r#"{"packageManager": "bun@1.1.0"}"#)]);
        assert_eq!(install_advice(&corepack.join("apps/api")), "bun install --frozen-lockfile");
        let npm = dir_with(&[("package-lock.json", "{}")]);
        assert_eq!(install_advice(&npm), "npm ci");
        for d in [pnpm, yarn, corepack, npm] {
            std::fs::remove_dir_all(d).unwrap();
        }
    }

    #[test]
    fn a_garbled_package_json_falls_back_to_npm() {
        let d = dir_with(&[("package.json", "{not json"), ("apps/package.json", r#"{"packageManager": 3}"#)]);
        assert_eq!(PackageManager::of_app(&d.join("apps/api")), None);
        assert_eq!(install_advice(&d.join("apps/api")), "npm ci");
        std::fs::remove_dir_all(d).unwrap();
    }
}
