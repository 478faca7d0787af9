//! PostgreSQL pool and migrations.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::config::DatabaseUrl;

/// The one source of the schema, embedded in every binary that uses the database.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// The longest one statement of a service may run: a stuck statement fails instead of
/// holding a connection (and, in checkout, an idempotency claim) for ever.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Connects and applies pending migrations. sqlx takes an advisory lock while migrating, so
/// several replicas starting at once are safe. Migrations run on a connection of their own
/// without the statement timeout (converting a large existing table may take longer).
#[tracing::instrument(name = "connect database", skip_all)]
pub async fn connect_and_migrate(
    url: &DatabaseUrl,
    max_connections: u32,
) -> anyhow::Result<PgPool> {
    let migrations = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options(url)?);
    MIGRATOR
        .run(&migrations)
        .await
        .map_err(|e| anyhow::anyhow!("applying migrations failed: {e}"))?;
    migrations.close().await;
    connect(url, max_connections)
}

/// A lazily connecting pool: the service starts even when PostgreSQL is briefly away.
pub fn connect(url: &DatabaseUrl, max_connections: u32) -> anyhow::Result<PgPool> {
    let timeout = format!("{}ms", STATEMENT_TIMEOUT.as_millis());
    let options = options(url)?.options([("statement_timeout", timeout.as_str())]);
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options))
}

fn options(url: &DatabaseUrl) -> anyhow::Result<PgConnectOptions> {
    url.expose()
        .parse()
        .map_err(|_| anyhow::anyhow!("DATABASE_URL is not a valid PostgreSQL URL"))
}

/// True when a trivial query succeeds: used by readiness probes.
pub async fn is_reachable(pool: &PgPool) -> bool {
    tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query("SELECT 1").execute(pool),
    )
    .await
    .map(|r| r.is_ok())
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[sqlx::test(migrations = false)]
    async fn migrations_create_the_contract_tables_on_an_empty_database(pool: PgPool) {
        MIGRATOR.run(&pool).await.unwrap();
        for table in [
            "users",
            "payments",
            "processed_messages",
            "outbox_events",
            "idempotency_keys",
        ] {
            let exists: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_name = $1)",
            )
            .bind(table)
            .fetch_one(&pool)
            .await
            .unwrap();
            assert!(exists, "{table} missing");
        }
        // Running again is a no-op.
        MIGRATOR.run(&pool).await.unwrap();
        // Amount is NUMERIC and negative amounts are refused.
        let ty: String = sqlx::query_scalar(
            "SELECT data_type FROM information_schema.columns WHERE table_name='payments' AND column_name='amount'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(ty, "numeric");
        sqlx::query("INSERT INTO users (id) VALUES (1)")
            .execute(&pool)
            .await
            .unwrap();
        let bad = sqlx::query(
            "INSERT INTO payments (user_id, order_id, amount, currency, subscription_tier, subscription_months) \
             VALUES (1, 'o1', -1, 'USD', 'pro', 1)",
        )
        .execute(&pool)
        .await;
        assert!(bad.is_err());
        let bad_status = sqlx::query(
            "INSERT INTO payments (user_id, order_id, amount, currency, subscription_tier, subscription_months, status) \
             VALUES (1, 'o2', 1, 'USD', 'pro', 1, 'bogus')",
        )
        .execute(&pool)
        .await;
        assert!(bad_status.is_err());
        let pending_without_invoice = sqlx::query(
            "INSERT INTO payments (user_id, order_id, amount, currency, subscription_tier, subscription_months, status) \
             VALUES (1, 'o3', 1, 'USD', 'pro', 1, 'pending')",
        )
        .execute(&pool)
        .await;
        assert!(pending_without_invoice.is_err());
    }

    #[sqlx::test(migrations = false)]
    async fn migrations_extend_the_original_guides_users_table(pool: PgPool) {
        sqlx::raw_sql(
            "CREATE TABLE users (id SERIAL PRIMARY KEY, email VARCHAR(255) UNIQUE NOT NULL, \
             subscription_tier VARCHAR(50), subscription_expires TIMESTAMP, created_at TIMESTAMP DEFAULT now()); \
             INSERT INTO users (email, subscription_tier, subscription_expires) VALUES ('a@example.com', 'pro', '2030-01-01 00:00:00'); \
             INSERT INTO users (email) VALUES ('b@example.com');",
        )
        .execute(&pool)
        .await
        .unwrap();

        MIGRATOR.run(&pool).await.unwrap();

        type Row = (
            i64,
            Option<String>,
            String,
            Option<chrono_like::DateTime>,
            i32,
            i32,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, email, subscription_tier, subscription_expires, requests_limit, requests_used FROM users ORDER BY id",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].2, "pro");
        assert_eq!(
            rows[0].3.map(|t| t.to_rfc3339()),
            Some("2030-01-01T00:00:00+00:00".to_string())
        );
        assert_eq!(rows[1].2, "free", "a NULL tier becomes free");
        assert_eq!((rows[1].4, rows[1].5), (100, 0));
        // New users need no e-mail, and ids from tokens are 64-bit.
        sqlx::query("INSERT INTO users (id) VALUES (9000000000)")
            .execute(&pool)
            .await
            .unwrap();
    }

    #[sqlx::test(migrations = false)]
    async fn service_pools_bound_every_statement(pool: PgPool) {
        let db: String = sqlx::query_scalar("SELECT current_database()::text")
            .fetch_one(&pool)
            .await
            .unwrap();
        let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for tests");
        let mut url: url::Url = base.parse().unwrap();
        url.set_path(&db);
        let url = DatabaseUrl::parse(url.as_str()).unwrap();
        let service = connect_and_migrate(&url, 2).await.unwrap();
        let timeout: String = sqlx::query_scalar("SHOW statement_timeout")
            .fetch_one(&service)
            .await
            .unwrap();
        assert_eq!(timeout, "30s");
        let stuck = sqlx::raw_sql("SET statement_timeout = '50ms'; SELECT pg_sleep(2)")
            .execute(&service)
            .await;
        assert!(stuck.is_err(), "a statement past the timeout fails");
    }

    mod chrono_like {
        pub type DateTime = sqlx::types::chrono::DateTime<sqlx::types::chrono::Utc>;
    }
}
