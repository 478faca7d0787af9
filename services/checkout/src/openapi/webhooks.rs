//! The document's `webhooks` (OpenAPI 3.1): one entry per merchant event type, the POST
//! the event dispatcher sends with its signed JSON body (`events::webhook`).
//!
//! utoipa 5 has no field for `webhooks`, so the entries are built with its types and put in
//! the document's extensions map, which serialises flattened into the top level.

use events::webhook::{
    Envelope, EventKind, EVENT_KINDS, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{AllOfBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{ContentBuilder, Ref, Required, ResponseBuilder, ResponsesBuilder};
use utoipa::Modify;

pub const TAG: &str = "webhooks";

pub struct Webhooks;

impl Modify for Webhooks {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let webhooks: serde_json::Map<String, serde_json::Value> = EVENT_KINDS
            .iter()
            .map(|kind| {
                let item = serde_json::to_value(webhook(kind)).expect("a path item serialises");
                (kind.name.to_string(), item)
            })
            .collect();
        openapi
            .extensions
            .get_or_insert_with(Default::default)
            .insert("webhooks".into(), webhooks.into());
    }
}

/// The schema name of an envelope's body.
pub fn envelope_schema(envelope: Envelope) -> &'static str {
    match envelope {
        Envelope::Payment => "PaymentEvent",
        Envelope::Subscription => "SubscriptionEvent",
        Envelope::RenewalDue => "RenewalDueEvent",
    }
}

/// `payment.completed` → `paymentCompletedWebhook`.
pub fn operation_id(kind: &EventKind) -> String {
    let mut id = String::new();
    let mut upper = false;
    for c in kind.name.chars() {
        if c == '.' || c == '_' {
            upper = true;
        } else if upper {
            id.extend(c.to_uppercase());
            upper = false;
        } else {
            id.push(c);
        }
    }
    id + "Webhook"
}

fn webhook(kind: &EventKind) -> PathItem {
    // The envelope with `type` narrowed to this event's.
    let body = AllOfBuilder::new()
        .item(Ref::from_schema_name(envelope_schema(kind.envelope)))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property(
                    "type",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some([kind.name])),
                )
                .required("type"),
        );
    let header = |name: &str, schema: ObjectBuilder, description: &str| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Header)
            .required(Required::True)
            .description(Some(description))
            .schema(Some(schema))
            .build()
    };
    let operation = OperationBuilder::new()
        .operation_id(Some(operation_id(kind)))
        .summary(Some(format!("`{}`", kind.name)))
        .description(Some(format!(
            "{} Sent to every enabled endpoint subscribed to `{}` (or `*`), signed by the Standard \
             Webhooks scheme; verify `webhook-signature` before trusting the body, and use \
             `webhook-id` to drop repeats.",
            kind.when, kind.name
        )))
        .tag(TAG)
        .parameter(header(
            HEADER_ID,
            ObjectBuilder::new().schema_type(Type::String),
            "The event id (the body's `id`), the same on every retry and resend.",
        ))
        .parameter(header(
            HEADER_TIMESTAMP,
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64))),
            "Unix seconds of this attempt; refuse one far from your clock.",
        ))
        .parameter(header(
            HEADER_SIGNATURE,
            ObjectBuilder::new()
                .schema_type(Type::String)
                .examples([serde_json::json!("v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=")]),
            "`v1,` + base64 of HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`, keyed \
             with the base64-decoded part of the endpoint's secret after `whsec_`. Several \
             space-separated signatures may be sent; one valid signature is enough.",
        ))
        .request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(body)).build(),
                )
                .build(),
        ))
        .responses(
            ResponsesBuilder::new()
                .response(
                    "2XX",
                    ResponseBuilder::new()
                        .description("Delivered: this event is not sent to this endpoint again."),
                )
                .response(
                    "default",
                    ResponseBuilder::new().description(
                        "Not delivered (so are a timeout and a refused connection): retried \
                         on the dispatcher's schedule with the same `webhook-id`, then marked failed.",
                    ),
                ),
        )
        .build();
    PathItem::new(HttpMethod::Post, operation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_are_camel_case() {
        let ids: Vec<String> = EVENT_KINDS.iter().map(operation_id).collect();
        assert_eq!(ids[0], "paymentCompletedWebhook");
        assert!(ids.contains(&"subscriptionRenewalDueWebhook".to_string()));
    }
}
