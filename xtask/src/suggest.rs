//! "Did you mean": the closest of some known names to a mistyped one (task names on
//! the command line, migration names for `diagnose`). A leaf, so every layer can use it.

/// A name within two edits of `wrong`, for "did you mean".
pub(crate) fn did_you_mean<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(wrong, c), c))
        .filter(|(d, c)| *d <= 2.max(wrong.len().min(c.len()) / 4) && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["backup", "deploy", "resolve-applied"];
        assert_eq!(did_you_mean("deplyo", names), Some("deploy"));
        assert_eq!(did_you_mean("bakup", names), Some("backup"));
        assert_eq!(did_you_mean("zzz", names), None);
        let migrations = ["20260101000000_init", "20260221053404_add_missing_models"];
        assert_eq!(did_you_mean("20260221053404_add_missing_modles", migrations), Some(migrations[1]));
    }
}
