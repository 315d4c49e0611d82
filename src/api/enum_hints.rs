//! Allowed values for enum errors. poem-openapi answers a value outside an enum with
//! "Expected input type \"DecisionValue\", found \"approved\"" (a body field) or "Expect a
//! valid enumeration value" (a parameter), naming neither the field's allowed values nor,
//! for a parameter, the type. The OpenAPI document knows both; this module reads them
//! from it once and adds "allowed values: …" to such a 400.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::Value;

/// Allowed values by schema name, and by the name of a parameter typed by an enum.
#[derive(Debug, Default)]
struct EnumValues {
    schemas: BTreeMap<String, Vec<String>>,
    parameters: BTreeMap<String, Vec<String>>,
}

static ENUMS: LazyLock<EnumValues> =
    LazyLock::new(|| read_enums(&serde_json::from_str(&super::openapi_json()).unwrap_or_default()));

fn strings(values: &Value) -> Option<Vec<String>> {
    let values: Vec<String> = values
        .as_array()?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    (!values.is_empty()).then_some(values)
}

fn read_enums(document: &Value) -> EnumValues {
    let mut found = EnumValues::default();
    if let Some(schemas) = document["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            if let Some(values) = strings(&schema["enum"]) {
                found.schemas.insert(name.clone(), values);
            }
        }
    }
    let operations = document["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(Value::as_object)
        .flat_map(|methods| methods.values());
    for operation in operations {
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            let Some(name) = parameter["name"].as_str() else {
                continue;
            };
            let schema = &parameter["schema"];
            let by_ref = schema["$ref"]
                .as_str()
                .and_then(|r| r.rsplit('/').next())
                .and_then(|r| found.schemas.get(r).cloned());
            if let Some(values) = by_ref.or_else(|| strings(&schema["enum"])) {
                found.parameters.insert(name.to_owned(), values);
            }
        }
    }
    found
}

/// `detail` with the allowed values appended when it is an enum error.
pub fn with_allowed_values(detail: String) -> String {
    explain(&ENUMS, detail)
}

fn explain(enums: &EnumValues, detail: String) -> String {
    let values = if let Some(rest) = detail.split("Expected input type \"").nth(1) {
        rest.split('"')
            .next()
            .and_then(|name| enums.schemas.get(name))
    } else if detail.contains("Expect a valid enumeration value") {
        detail
            .split('`')
            .nth(1)
            .and_then(|parameter| enums.parameters.get(parameter))
    } else {
        None
    };
    match values {
        Some(values) => format!("{detail} Allowed values: {}.", values.join(", ")),
        None => detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_errors_name_the_allowed_values() {
        let enums = read_enums(&serde_json::json!({
            "components": { "schemas": { "DecisionValue": { "type": "string", "enum": ["approve", "reject"] } } },
            "paths": { "/v1/runs": { "get": { "parameters": [
                { "name": "status", "schema": { "$ref": "#/components/schemas/DecisionValue" } }
            ] } } }
        }));
        let body = explain(
            &enums,
            r#"parse request payload error: failed to parse "DecisionValue": Expected input type "DecisionValue", found "approved"."#.to_owned(),
        );
        assert!(body.ends_with("Allowed values: approve, reject."), "{body}");
        let parameter = explain(
            &enums,
            "failed to parse parameter `status`: Expect a valid enumeration value.".to_owned(),
        );
        assert!(
            parameter.ends_with("Allowed values: approve, reject."),
            "{parameter}"
        );
        let other = "something else".to_owned();
        assert_eq!(explain(&enums, other.clone()), other);
    }
}
