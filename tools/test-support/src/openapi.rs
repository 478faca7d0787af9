//! Reading a served OpenAPI document in contract tests: its operations, one operation by
//! id, the error codes it lists for a status.

use serde_json::Value;

pub const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// (method, path, operation) of every operation in `paths`.
pub fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                all.push((method.to_string(), path.clone(), op.clone()));
            }
        }
    }
    all
}

/// The operation with this `operationId`.
pub fn operation<'a>(spec: &'a Value, id: &str) -> &'a Value {
    spec["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|item| METHODS.iter().filter_map(|m| item.get(*m)))
        .find(|op| op["operationId"] == id)
        .unwrap_or_else(|| panic!("no operation {id}"))
}

/// The codes the document lists for one status of one operation (asserting the standard
/// error body).
pub fn documented_codes(spec: &Value, id: &str, status: u16) -> Vec<String> {
    let response = &operation(spec, id)["responses"][status.to_string()];
    let schema = &response["content"]["application/json"]["schema"];
    assert_eq!(
        schema["allOf"][0]["$ref"], "#/components/schemas/ErrorResponse",
        "{id} {status}: the standard error body"
    );
    schema["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("{id} {status}: no codes in {response}"))
        .iter()
        .map(|c| c.as_str().expect("a code").to_string())
        .collect()
}

/// Asserts what every operation of a served document must have: a camelCase
/// `operationId`, a summary, declared tags, and for each 4xx/5xx (but `exempt`'s, which
/// answer with their own body) the standard error body listing its codes, also named in
/// the description. Returns (operation id, method, path, operation) of each.
pub fn assert_every_operation_is_described(
    spec: &Value,
    exempt: &[&str],
) -> Vec<(String, String, String, Value)> {
    let tags: Vec<&str> = spec["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| t["name"].as_str().expect("a tag name"))
        .collect();
    let mut described = Vec::new();
    for (method, path, op) in operations(spec) {
        let id = op["operationId"].as_str().unwrap_or_default().to_string();
        assert!(
            id.len() > 3
                && id.starts_with(|c: char| c.is_ascii_lowercase())
                && id.chars().all(|c| c.is_ascii_alphanumeric()),
            "{method} {path}: camelCase operationId, not {id:?}"
        );
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{id}: summary"
        );
        let op_tags = op["tags"].as_array().expect("tags");
        assert!(
            !op_tags.is_empty()
                && op_tags
                    .iter()
                    .all(|t| t.as_str().is_some_and(|t| tags.contains(&t))),
            "{id}: declared tags"
        );
        for (status, response) in op["responses"].as_object().expect("responses") {
            let error = status.starts_with('4') || status.starts_with('5');
            if error && !exempt.contains(&id.as_str()) {
                let status: u16 = status.parse().expect("a status");
                assert!(
                    !documented_codes(spec, &id, status).is_empty(),
                    "{id} {status}: codes"
                );
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|d| d.contains("Codes: `")),
                    "{id} {status}: codes in the description"
                );
            }
        }
        described.push((id, method, path, op));
    }
    described
}
