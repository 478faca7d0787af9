//! Merchants' endpoints (`webhook_endpoints`): from `WEBHOOK_ENDPOINTS` and the admin API.
//! The secret is read only to sign ([`crate::deliveries`]) and shown once, at creation.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::destination::{self, BadDestination};
use crate::secret::{BadSecret, WebhookSecret};

/// Subscribes to every event type.
pub const ALL_EVENTS: &str = "*";

/// An endpoint as the admin API shows it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Endpoint {
    pub id: Uuid,
    pub url: String,
    #[serde(rename = "events")]
    pub event_types: Vec<String>,
    pub description: String,
    pub enabled: bool,
    /// From `WEBHOOK_ENDPOINTS`: changed by the setting, not the API.
    pub from_config: bool,
    /// First failed attempt since the last success.
    pub failing_since: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One entry of `WEBHOOK_ENDPOINTS`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfiguredEndpoint {
    pub url: String,
    pub secret: String,
    pub events: Vec<String>,
}

/// Why an endpoint cannot be saved.
#[derive(Debug, thiserror::Error)]
pub enum BadEndpoint {
    #[error("url: {0}")]
    Url(#[from] BadDestination),
    #[error("secret: {0}")]
    Secret(#[from] BadSecret),
    #[error("events: `{0}` is not an event type (see the catalogue, or `*` for all)")]
    UnknownEvent(String),
    #[error("events: at least one event type, or `*` for all")]
    NoEvents,
    #[error("description: at most 500 characters")]
    Description,
}

/// An endpoint checked and ready to insert.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub url: url::Url,
    pub secret: WebhookSecret,
    pub events: Vec<String>,
    pub description: String,
}

impl NewEndpoint {
    /// Checks every field; the URL's addresses too unless `allow_private`.
    pub async fn parse(
        url: &str,
        secret: Option<&str>,
        events: &[String],
        description: Option<&str>,
        allow_private: bool,
    ) -> Result<Self, BadEndpoint> {
        let url = destination::parse_url(url)?;
        destination::check(&url, allow_private).await?;
        let secret = match secret {
            Some(s) => WebhookSecret::parse(s)?,
            None => WebhookSecret::generate(),
        };
        Ok(Self {
            url,
            secret,
            events: event_types(events)?,
            description: description_of(description)?,
        })
    }
}

/// The list, checked: known types or `*`, without repeats, in the order given.
pub fn event_types(events: &[String]) -> Result<Vec<String>, BadEndpoint> {
    let mut out: Vec<String> = Vec::new();
    for e in events.iter().map(|e| e.trim()) {
        let known = e == ALL_EVENTS || events::webhook::EVENT_KINDS.iter().any(|k| k.name == e);
        if !known {
            return Err(BadEndpoint::UnknownEvent(e.chars().take(100).collect()));
        }
        if !out.iter().any(|o| o == e) {
            out.push(e.to_string());
        }
    }
    if out.is_empty() {
        return Err(BadEndpoint::NoEvents);
    }
    Ok(out)
}

pub fn description_of(description: Option<&str>) -> Result<String, BadEndpoint> {
    let d = description.unwrap_or_default().trim();
    if d.chars().count() > 500 {
        return Err(BadEndpoint::Description);
    }
    Ok(d.to_string())
}

#[tracing::instrument(skip(pool, new), fields(url = %new.url))]
pub async fn insert(pool: &PgPool, new: &NewEndpoint) -> sqlx::Result<Endpoint> {
    sqlx::query_as!(
        Endpoint,
        r#"INSERT INTO webhook_endpoints (id, url, secret, event_types, description)
           VALUES ($1, $2, $3, $4, $5)
           RETURNING id, url, event_types, description, enabled, from_config, failing_since,
                     disabled_reason, created_at, updated_at"#,
        Uuid::now_v7(),
        new.url.as_str(),
        new.secret.expose(),
        &new.events,
        new.description,
    )
    .fetch_one(pool)
    .await
}

#[tracing::instrument(skip(pool))]
pub async fn list(pool: &PgPool) -> sqlx::Result<Vec<Endpoint>> {
    sqlx::query_as!(
        Endpoint,
        r#"SELECT id, url, event_types, description, enabled, from_config, failing_since,
                  disabled_reason, created_at, updated_at
           FROM webhook_endpoints ORDER BY created_at, id"#
    )
    .fetch_all(pool)
    .await
}

#[tracing::instrument(skip(pool))]
pub async fn get(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<Endpoint>> {
    sqlx::query_as!(
        Endpoint,
        r#"SELECT id, url, event_types, description, enabled, from_config, failing_since,
                  disabled_reason, created_at, updated_at
           FROM webhook_endpoints WHERE id = $1"#,
        id
    )
    .fetch_optional(pool)
    .await
}

/// What a `PATCH` changes; `None` keeps the field.
#[derive(Debug, Default)]
pub struct Changes {
    pub url: Option<url::Url>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    pub secret: Option<WebhookSecret>,
}

/// Applies `changes`; enabling an endpoint forgets its failures. `None` if it is unknown.
#[tracing::instrument(skip(pool, changes))]
pub async fn update(pool: &PgPool, id: Uuid, changes: &Changes) -> sqlx::Result<Option<Endpoint>> {
    sqlx::query_as!(
        Endpoint,
        r#"UPDATE webhook_endpoints SET
               url = COALESCE($2, url),
               event_types = COALESCE($3, event_types),
               description = COALESCE($4, description),
               secret = COALESCE($6, secret),
               enabled = COALESCE($5, enabled),
               failing_since = CASE WHEN $5 THEN NULL ELSE failing_since END,
               disabled_reason = CASE WHEN $5 THEN NULL
                                      WHEN $5 = false THEN 'disabled by an admin'
                                      ELSE disabled_reason END,
               updated_at = now()
           WHERE id = $1
           RETURNING id, url, event_types, description, enabled, from_config, failing_since,
                     disabled_reason, created_at, updated_at"#,
        id,
        changes.url.as_ref().map(url::Url::as_str),
        changes.events.as_deref(),
        changes.description,
        changes.enabled,
        changes.secret.as_ref().map(WebhookSecret::expose),
    )
    .fetch_optional(pool)
    .await
}

/// Deletes the endpoint with its deliveries and their attempts.
#[tracing::instrument(skip(pool))]
pub async fn delete(pool: &PgPool, id: Uuid) -> sqlx::Result<bool> {
    let deleted = sqlx::query!("DELETE FROM webhook_endpoints WHERE id = $1", id)
        .execute(pool)
        .await?;
    Ok(deleted.rows_affected() > 0)
}

/// Makes the configured endpoints what `WEBHOOK_ENDPOINTS` says: each URL inserted or its
/// secret and events updated (an endpoint disabled for failing stays disabled); those no
/// longer listed are disabled, their delivery log kept.
#[tracing::instrument(skip_all, fields(endpoints = configured.len()))]
pub async fn sync_configured(pool: &PgPool, configured: &[NewEndpoint]) -> sqlx::Result<()> {
    const REMOVED: &str = "removed from WEBHOOK_ENDPOINTS";
    let mut tx = pool.begin().await?;
    for endpoint in configured {
        sqlx::query!(
            r#"INSERT INTO webhook_endpoints (id, url, secret, event_types, from_config)
               VALUES ($1, $2, $3, $4, true)
               ON CONFLICT (url) WHERE from_config DO UPDATE SET
                   secret = EXCLUDED.secret,
                   event_types = EXCLUDED.event_types,
                   enabled = webhook_endpoints.enabled OR webhook_endpoints.disabled_reason = $5,
                   disabled_reason = NULLIF(webhook_endpoints.disabled_reason, $5),
                   updated_at = now()"#,
            Uuid::now_v7(),
            endpoint.url.as_str(),
            endpoint.secret.expose(),
            &endpoint.events,
            REMOVED,
        )
        .execute(&mut *tx)
        .await?;
    }
    let urls: Vec<String> = configured.iter().map(|e| e.url.to_string()).collect();
    sqlx::query!(
        r#"UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, updated_at = now()
           WHERE from_config AND enabled AND url <> ALL($1)"#,
        &urls,
        REMOVED,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn event_types_are_the_catalogue_or_all() {
        assert_eq!(
            event_types(&strings(&["payment.completed", " payment.completed", "*"])).unwrap(),
            strings(&["payment.completed", "*"])
        );
        assert!(matches!(
            event_types(&strings(&["payment.refunded"])),
            Err(BadEndpoint::UnknownEvent(t)) if t == "payment.refunded"
        ));
        assert!(matches!(event_types(&[]), Err(BadEndpoint::NoEvents)));
    }
}
