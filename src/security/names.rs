//! The rule for the names of people and keys. A person's handle is the actor recorded in
//! run history and the audit ledger, beside the service's own actors (`engine`,
//! `schedule:<name>`, `meta`, `bootstrap`, `cli`): so handles are lower-case ASCII letters,
//! digits, `.`, `_` and `-` (no `:`, no spaces, no look-alike or direction-changing
//! characters), and the service's own names are refused.

/// Longest handle or key name.
pub const MAX_NAME_LEN: usize = 64;

/// Names the service records for itself, which nobody may take.
pub const RESERVED: [&str; 14] = [
    "engine",
    "bootstrap",
    "cli",
    "operator",
    "system",
    "service",
    "meta",
    "schedule",
    "scheduler",
    "webhooks",
    "anonymous",
    "unknown",
    "root",
    "bench",
];

/// Why a name is refused, or `None` for a name anyone may take.
pub fn refusal(name: &str) -> Option<String> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Some(format!("a name is 1 to {MAX_NAME_LEN} characters"));
    }
    if !name.chars().all(allowed) {
        return Some(
            "a name uses only lower-case letters a-z, digits, `.`, `_` and `-`".to_owned(),
        );
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Some("a name starts with a letter or a digit".to_owned());
    }
    if RESERVED.contains(&name) {
        return Some(format!(
            "`{name}` is a name the service records for itself; choose another"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::refusal;

    #[test]
    fn service_names_and_look_alikes_are_refused() {
        for name in [
            "engine",
            "bootstrap",
            "schedule:tick",
            "cli",
            "admin\u{202e}",
            "аdmin", // Cyrillic а
            "Admin",
            "dana compliance",
            "-dash",
            "",
        ] {
            assert!(refusal(name).is_some(), "{name:?} was accepted");
        }
        for name in ["dana.compliance", "crm-integration", "auditor_2", "admin"] {
            assert_eq!(refusal(name), None, "{name:?}");
        }
    }
}
