//! Secret masking: every line the runner prints, logs or reports goes through here.

/// What replaces a secret in output.
pub(crate) const MASK: &str = "***";

/// Known secrets of this run (the database password, and its percent-encoded form;
/// a fleet's, one or two per target).
#[derive(Debug, Clone, Default)]
pub(crate) struct Secrets {
    /// Longest first, so a secret that contains another is masked whole; a set, so
    /// adding the secrets of a 100,000-target fleet is not quadratic (it was a
    /// search and a sort of the whole list per secret).
    values: std::collections::BTreeSet<(std::cmp::Reverse<usize>, String)>,
}

impl Secrets {
    pub(crate) fn add(&mut self, secret: &str) {
        // Very short "secrets" would mask ordinary text everywhere; a password of one
        // or two characters is still masked where it appears as URL userinfo below.
        if secret.len() >= 3 {
            self.values.insert((std::cmp::Reverse(secret.len()), secret.to_string()));
        }
    }

    pub(crate) fn redact(&self, text: &str) -> String {
        let mut out = mask_url_passwords(text);
        for (_, v) in &self.values {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), MASK);
            }
        }
        out
    }
}

/// Masks the password of any `scheme://user:password@host` in the text, known or not.
///
/// The userinfo ends at the *last* `@` of the URL (up to whitespace or a quote),
/// not at the first `/`, `?` or `#`: a password with one of those characters left
/// unencoded (`app:Tr0ub4dor/X9@db`) is still a password, and masking a little too
/// much of an odd URL costs nothing.
pub(crate) fn mask_url_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let word_end =
            tail.find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '`').unwrap_or(tail.len());
        let word = &tail[..word_end];
        // Another URL in the same word starts its own masking.
        let word = word.find("://").map_or(word, |j| &word[..j]);
        let end = match (word.rfind('@'), word.find(':')) {
            (Some(at), Some(colon)) if colon < at => {
                out.push_str(&word[..colon + 1]);
                out.push_str(MASK);
                at
            }
            _ => 0,
        };
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_known_secrets_and_url_passwords() {
        let mut s = Secrets::default();
        s.add("s3cr3t!");
        assert_eq!(s.redact("pw is s3cr3t! ok"), "pw is *** ok");
        assert_eq!(
            s.redact("postgresql://app:other@db:5432/x?schema=public"),
            "postgresql://app:***@db:5432/x?schema=public"
        );
        assert_eq!(s.redact("postgresql://app@db/x"), "postgresql://app@db/x");
        assert_eq!(s.redact("no url: a:b@c"), "no url: a:b@c");
        // Unencoded `/`, `?`, `#`, `@` in the password: masked to the last `@`.
        assert_eq!(
            mask_url_passwords("at postgresql://app:Tr0ub4dor/X9@db.internal:5432/school now"),
            "at postgresql://app:***@db.internal:5432/school now"
        );
        assert_eq!(mask_url_passwords("'postgres://u:a?b#c@d@h/x'"), "'postgres://u:***@h/x'");
        assert_eq!(mask_url_passwords("a://x:1@h b://y:2@i"), "a://x:***@h b://y:***@i");
    }
}
