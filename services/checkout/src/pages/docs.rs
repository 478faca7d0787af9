//! `GET /docs`: the OpenAPI document as a browsable page, rendered on the server from the
//! same document `/openapi.json` serves (no external scripts).

use maud::{html, Markup};
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

pub fn render(spec: &Value) -> Markup {
    let title = spec
        .pointer("/info/title")
        .and_then(Value::as_str)
        .unwrap_or("API");
    let version = spec
        .pointer("/info/version")
        .and_then(Value::as_str)
        .unwrap_or("");
    let empty = serde_json::Map::new();
    let paths = spec
        .get("paths")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let schemas = spec
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let content = html! {
        h1 { (title) " " span.muted { (version) } }
        p { "Machine-readable: " a href="/openapi.json" { code { "/openapi.json" } } " (OpenAPI 3.1)." }
        @for (path, item) in paths {
            @for method in METHODS {
                @if let Some(op) = item.get(method) {
                    div.card id=(anchor(method, path)) {
                        h2 { code { (method.to_uppercase()) } " " (path) }
                        @if let Some(summary) = op.get("summary").and_then(Value::as_str) { p { (summary) } }
                        @if let Some(text) = op.get("description").and_then(Value::as_str) { p.muted { (text) } }
                        @if let Some(security) = op.get("security").and_then(Value::as_array) {
                            p.muted { "Auth: " (security.iter().filter_map(Value::as_object).flat_map(|o| o.keys().cloned()).collect::<Vec<_>>().join(" or ")) }
                        }
                        @if let Some(params) = op.get("parameters").and_then(Value::as_array) {
                            h3 { "Parameters" }
                            ul {
                                @for p in params {
                                    li {
                                        code { (p.get("name").and_then(Value::as_str).unwrap_or("?")) }
                                        " (" (p.get("in").and_then(Value::as_str).unwrap_or("?")) ") "
                                        span.muted { (p.get("description").and_then(Value::as_str).unwrap_or("")) }
                                    }
                                }
                            }
                        }
                        @if let Some(schema) = op.pointer("/requestBody/content/application~1json/schema") {
                            p { "Request body: " (schema_link(schema)) }
                        }
                        @if let Some(responses) = op.get("responses").and_then(Value::as_object) {
                            table {
                                thead { tr { th { "Status" } th { "Meaning" } th { "Body" } } }
                                tbody {
                                    @for (status, response) in responses {
                                        tr {
                                            td { code { (status) } }
                                            td { (response.get("description").and_then(Value::as_str).unwrap_or("")) }
                                            td {
                                                @if let Some(schema) = response.pointer("/content/application~1json/schema") {
                                                    (schema_link(schema))
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Schemas" }
        @for (name, schema) in schemas {
            div.card id={ "schema-" (name) } {
                h2 { (name) }
                @if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                    @let required: Vec<&str> = schema.get("required").and_then(Value::as_array).map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
                    table {
                        thead { tr { th { "Field" } th { "Type" } th { "Description" } } }
                        tbody {
                            @for (field, prop) in props {
                                tr {
                                    td { code { (field) } @if required.contains(&field.as_str()) { " *" } }
                                    td { (schema_link(prop)) }
                                    td.muted { (prop.get("description").and_then(Value::as_str).unwrap_or("")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    super::layout("API", content)
}

fn anchor(method: &str, path: &str) -> String {
    format!("{method}{}", path.replace(['/', '{', '}'], "-"))
}

/// A schema reference as a link, or its type.
fn schema_link(schema: &Value) -> Markup {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        return html! { a href={ "#schema-" (name) } { (name) } };
    }
    if let Some(items) = schema.get("items") {
        return html! { "array of " (schema_link(items)) };
    }
    if let Some(variants) = schema.get("oneOf").and_then(Value::as_array) {
        return html! {
            @for (i, v) in variants.iter().enumerate() {
                @if i > 0 { " or " }
                (schema_link(v))
            }
        };
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | "),
        _ => "object".to_string(),
    };
    match schema.get("format").and_then(Value::as_str) {
        Some(format) => html! { (ty) " (" (format) ")" },
        None => html! { (ty) },
    }
}
