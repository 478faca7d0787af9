//! The service's Prometheus metrics (names and labels in one place).

use std::time::Duration;

pub const RECEIVED: &str = "webhook_postbacks_received_total";
pub const REJECTED: &str = "webhook_postbacks_rejected_total";
pub const PUBLISHED: &str = "webhook_postbacks_published_total";
pub const PUBLISH_DURATION: &str = "webhook_publish_duration_seconds";
pub const TOKEN_CLOCK_SKEW: &str = "webhook_token_clock_skew_seconds";
pub const TOKEN_ID_CLAIMS: &str = "webhook_token_id_claims_total";
pub const INVOICE_INFO_IGNORED: &str = "webhook_invoice_info_ignored_total";

/// Help texts, registered once at start.
pub fn describe() {
    metrics::describe_counter!(RECEIVED, "Postbacks received on POST /api/webhook/payment.");
    metrics::describe_counter!(
        REJECTED,
        "Postbacks answered with anything but 200, by reason."
    );
    metrics::describe_counter!(
        PUBLISHED,
        "Postbacks confirmed by RabbitMQ, by body format."
    );
    metrics::describe_histogram!(
        PUBLISH_DURATION,
        metrics::Unit::Seconds,
        "Time from publish to the broker's confirm (or failure), by outcome."
    );
    metrics::describe_histogram!(
        TOKEN_CLOCK_SKEW,
        metrics::Unit::Seconds,
        "Receipt time minus token issue time (exp - 300 s) of verified tokens: transit plus \
         clock skew. `direction` is `behind` when the token is older than our clock, `ahead` \
         when it claims to come from the future."
    );
    metrics::describe_counter!(
        TOKEN_ID_CLAIMS,
        "Verified postback tokens by their id claim: `invoice` (names the postback's \
         invoice), `numeric` (a number, not comparable), `absent`."
    );
    metrics::describe_counter!(
        INVOICE_INFO_IGNORED,
        "Postbacks whose invoice_info hint could not be read (not JSON, nested form keys, \
         repeated, another invoice's) and was ignored; the postback itself was accepted."
    );
}

pub fn invoice_info_ignored() {
    metrics::counter!(INVOICE_INFO_IGNORED).increment(1);
}

pub fn token_id(kind: &'static str) {
    metrics::counter!(TOKEN_ID_CLAIMS, "kind" => kind).increment(1);
}

pub fn received() {
    metrics::counter!(RECEIVED).increment(1);
}

pub fn rejected(reason: &'static str) {
    metrics::counter!(REJECTED, "reason" => reason).increment(1);
}

pub fn published(format: &'static str) {
    metrics::counter!(PUBLISHED, "format" => format).increment(1);
}

pub fn publish_duration(outcome: &'static str, elapsed: Duration) {
    metrics::histogram!(PUBLISH_DURATION, "outcome" => outcome).record(elapsed.as_secs_f64());
}

/// Prometheus buckets cannot hold negative values usefully, so the sign becomes a label.
pub fn token_age(age_secs: f64) {
    let direction = if age_secs < 0.0 { "ahead" } else { "behind" };
    metrics::histogram!(TOKEN_CLOCK_SKEW, "direction" => direction).record(age_secs.abs());
}
