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
