//! Dotted-key overrides of a JSON config (`"timeouts.idle"` → `{"timeouts":{"idle":…}}`), so a test sets any key the harness has no builder method for.

use serde_json::{Map, Value};

/// Sets `dotted` in `config`, creating the objects on the way.
pub(crate) fn set(config: &mut Value, dotted: &str, value: Value) {
    let mut at = config;
    let mut keys = dotted.split('.').peekable();
    while let Some(key) = keys.next() {
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        let object = at.as_object_mut().expect("made an object above");
        if keys.peek().is_none() {
            object.insert(key.to_owned(), value);
            return;
        }
        at = object
            .entry(key.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_keys_merge_into_what_is_there() {
        let mut config = json!({ "timeouts": { "connect": "1s" } });
        set(&mut config, "timeouts.idle", json!("2s"));
        set(&mut config, "limits.connections", json!(64));
        assert_eq!(
            config,
            json!({ "timeouts": { "connect": "1s", "idle": "2s" }, "limits": { "connections": 64 } })
        );
    }
}
