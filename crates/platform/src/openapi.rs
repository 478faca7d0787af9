//! What the services' API documents share: walking a document's operations and writing
//! each operation's error answers (every status it can fail with, the standard error body
//! [`crate::http::ErrorResponse`] narrowed to the codes that status can carry). Each service
//! keeps its own table of answers, built from its flows' own error types, so the document
//! cannot drift from what is sent.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::http::StatusCode;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};

/// Status and code of each way an operation can fail.
pub type Answers = Vec<(StatusCode, &'static str)>;

/// An operation id and what it can fail with.
pub type OperationAnswers = (&'static str, fn() -> Answers);

/// The name of the error body's schema in `components`.
pub const ERROR_SCHEMA: &str = "ErrorResponse";

/// Every operation of a path item.
pub fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// Writes `table` into the document: for each listed operation one response per status
/// (the handler's description kept, or the status's name), the error body narrowed to its
/// codes.
pub fn write_error_answers(openapi: &mut OpenApi, table: &[OperationAnswers]) {
    let table: BTreeMap<&str, fn() -> Answers> = table.iter().copied().collect();
    for item in openapi.paths.paths.values_mut() {
        for operation in operations_mut(item) {
            let Some(answers) = operation
                .operation_id
                .as_deref()
                .and_then(|id| table.get(id))
            else {
                continue;
            };
            let mut by_status: BTreeMap<StatusCode, BTreeSet<&str>> = BTreeMap::new();
            for (status, code) in answers() {
                by_status.entry(status).or_default().insert(code);
            }
            for (status, codes) in by_status {
                let key = status.as_str().to_string();
                let description = match operation.responses.responses.get(&key) {
                    Some(RefOr::T(response)) => response.description.clone(),
                    _ => status.canonical_reason().unwrap_or("Error").to_string(),
                };
                let codes: Vec<&str> = codes.into_iter().collect();
                operation
                    .responses
                    .responses
                    .insert(key, RefOr::T(error_response(&description, &codes)));
            }
        }
    }
}

/// The standard error body with `error.code` one of `codes`.
fn error_response(description: &str, codes: &[&str]) -> Response {
    let listed = codes
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ");
    ResponseBuilder::new()
        .description(format!("{description}. Codes: {listed}."))
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(error_schema(codes)))
                .build(),
        )
        .build()
}

fn error_schema(codes: &[&str]) -> Schema {
    let code = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(codes.iter().copied()));
    let error = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("code", code)
        .required("code");
    let narrowed = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("error", error)
        .required("error");
    AllOfBuilder::new()
        .item(Ref::from_schema_name(ERROR_SCHEMA))
        .item(narrowed)
        .into()
}
