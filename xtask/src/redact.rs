//! Secret masking: every line the runner prints, logs or reports goes through here.

/// What replaces a secret in output.
pub const MASK: &str = "***";

/// Known secrets of this run (the database password, and its percent-encoded form).
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    values: Vec<String>,
}

impl Secrets {
    pub fn add(&mut self, secret: &str) {
        // Very short "secrets" would mask ordinary text everywhere; a password of one
        // or two characters is still masked where it appears as URL userinfo below.
        if secret.len() >= 3 && !self.values.iter().any(|v| v == secret) {
            self.values.push(secret.to_string());
            // Longest first, so a secret that contains another is masked whole.
            self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = mask_url_passwords(text);
        for v in &self.values {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), MASK);
            }
        }
        out
    }
}

/// Masks the password of any `scheme://user:password@host` in the text, known or not.
pub fn mask_url_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends at the first '/', '?', '#' or whitespace.
        let end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match (authority.rfind('@'), authority.find(':')) {
            (Some(at), Some(colon)) if colon < at => {
                out.push_str(&authority[..colon + 1]);
                out.push_str(MASK);
                out.push_str(&authority[at..]);
            }
            _ => out.push_str(authority),
        }
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
    }
}
