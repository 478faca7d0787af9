//! Time travel for a development stack, and only there: the stack's own database gets a
//! schema `devclock` whose `now()` is PostgreSQL's plus an offset this tool moves, and the
//! services connect with `search_path=public,devclock,pg_catalog`, so every `now()` in
//! their SQL (and every `DEFAULT now()` of the tables they migrate) reads the moved clock.
//! No service has code for it: a production database has no such schema and its services
//! no such search path. The sandbox's own clock (`POST /sandbox/clock`) moves with it.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection};

/// The connection option that puts `devclock.now()` before `pg_catalog.now()`.
const SEARCH_PATH: &str = "options=-c%20search_path%3Dpublic%2Cdevclock%2Cpg_catalog";

/// `database_url` with the search path that reads the moved clock.
pub fn url_with_clock(database_url: &str) -> String {
    let sep = if database_url.contains('?') { '&' } else { '?' };
    format!("{database_url}{sep}{SEARCH_PATH}")
}

/// Creates the clock in the (empty) database, before any service migrates it.
pub async fn install(database_url: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(database_url)
        .await
        .context("connecting to the stack's database")?;
    for statement in [
        "CREATE SCHEMA IF NOT EXISTS devclock",
        "CREATE TABLE IF NOT EXISTS devclock.offset_secs (secs BIGINT NOT NULL)",
        "INSERT INTO devclock.offset_secs (secs) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM devclock.offset_secs)",
        "CREATE OR REPLACE FUNCTION devclock.now() RETURNS timestamptz LANGUAGE sql STABLE AS \
         $$ SELECT pg_catalog.now() + make_interval(secs => (SELECT secs FROM devclock.offset_secs LIMIT 1)::double precision) $$",
    ] {
        sqlx::query(statement)
            .execute(&mut conn)
            .await
            .with_context(|| format!("devclock: {statement}"))?;
    }
    Ok(())
}

/// Moves the stack's clock (database and sandbox) forward; returns the new now.
pub async fn advance(
    database_url: &str,
    sandbox_url: &str,
    by: Duration,
) -> anyhow::Result<DateTime<Utc>> {
    let secs = i64::try_from(by.as_secs()).context("too far")?;
    let mut conn = PgConnection::connect(database_url).await?;
    let now: DateTime<Utc> = sqlx::query_scalar(
        "UPDATE devclock.offset_secs SET secs = secs + $1 RETURNING pg_catalog.now() + make_interval(secs => secs::double precision)",
    )
    .bind(secs)
    .fetch_one(&mut conn)
    .await
    .context("devclock: is this a stack started with the dev clock?")?;
    let res = reqwest::Client::new()
        .post(format!("{sandbox_url}/sandbox/clock"))
        .json(&serde_json::json!({"advance_secs": secs}))
        .send()
        .await?;
    anyhow::ensure!(
        res.status().is_success(),
        "the sandbox's clock: {}",
        res.status()
    );
    Ok(now)
}
