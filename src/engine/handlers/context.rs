//! The run context `{input, steps: {step_id: output}}` and dotted paths into it.

use serde_json::{Value, json};

/// The context a run starts with.
pub fn initial_context(input: &Value) -> Value {
    json!({ "input": input, "steps": {} })
}

/// Looks up a dotted path such as `steps.prepare.send_at` or `input.items.0.sku`.
pub fn lookup<'a>(context: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(context, |value, segment| match value {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
}

/// Whether a path can address the context at all: it must start at `input` or `steps`.
pub fn is_valid_path(path: &str) -> bool {
    let mut segments = path.split('.');
    matches!(segments.next(), Some("input") | Some("steps"))
        && path.split('.').all(|segment| !segment.is_empty())
}

/// The text form a correlation value is compared in: strings as-is, anything else as JSON.
pub fn correlation_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The JSON pointer of the first string or key holding U+0000 (NUL), which PostgreSQL's
/// `text` and `jsonb` cannot store; `None` when there is none.
pub fn first_nul(value: &Value) -> Option<String> {
    fn escape(key: &str) -> String {
        key.replace('~', "~0").replace('/', "~1")
    }
    match value {
        Value::String(text) => text.contains('\0').then(String::new),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| first_nul(item).map(|rest| format!("/{i}{rest}"))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                return Some(format!("/{}", escape(key)));
            }
            first_nul(item).map(|rest| format!("/{}{rest}", escape(key)))
        }),
        _ => None,
    }
}

/// Replaces every U+0000 (NUL) in `value`'s strings and keys with U+FFFD, for data from
/// outside that must be kept rather than refused (webhook deliveries).
pub fn replace_nul(value: &mut Value) {
    const REPLACEMENT: &str = "\u{FFFD}";
    match value {
        Value::String(text) if text.contains('\0') => *text = text.replace('\0', REPLACEMENT),
        Value::Array(items) => items.iter_mut().for_each(replace_nul),
        Value::Object(map) => {
            if map.keys().any(|key| key.contains('\0')) {
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(key, item)| (key.replace('\0', REPLACEMENT), item))
                    .collect();
            }
            map.values_mut().for_each(replace_nul);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_nul_points_at_the_string_or_key_holding_it() {
        assert_eq!(
            first_nul(&json!({ "a": ["ok", { "b/c": "x\u{0}" }] })).as_deref(),
            Some("/a/1/b~1c")
        );
        assert_eq!(
            first_nul(&json!({ "k\u{0}": 1 })).as_deref(),
            Some("/k\u{0}")
        );
        assert_eq!(first_nul(&json!("\u{0}")).as_deref(), Some(""));
        assert_eq!(
            first_nul(&json!({ "a": "\\u0000 is only text", "n": 0 })),
            None
        );
    }

    #[test]
    fn replace_nul_leaves_nothing_postgresql_would_refuse() {
        let mut value = json!({ "k\u{0}": ["a\u{0}b", 1, { "c": "\u{0}" }], "ok": "fine" });
        replace_nul(&mut value);
        assert_eq!(
            value,
            json!({ "k\u{FFFD}": ["a\u{FFFD}b", 1, { "c": "\u{FFFD}" }], "ok": "fine" })
        );
        assert_eq!(first_nul(&value), None);
    }

    #[test]
    fn looks_up_nested_objects_and_array_items() {
        let context =
            json!({"input": {"items": [{"sku": "A1"}]}, "steps": {"prepare": {"send_at": "x"}}});
        assert_eq!(lookup(&context, "input.items.0.sku"), Some(&json!("A1")));
        assert_eq!(lookup(&context, "steps.prepare.send_at"), Some(&json!("x")));
        assert_eq!(lookup(&context, "steps.missing"), None);
    }

    #[test]
    fn paths_must_start_at_input_or_steps() {
        assert!(is_valid_path("input.order_id"));
        assert!(is_valid_path("steps.a.b"));
        assert!(!is_valid_path("order_id"));
        assert!(!is_valid_path("input..x"));
    }
}
