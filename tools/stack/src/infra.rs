//! Databases and RabbitMQ vhosts for a stack.

use anyhow::Context;
use sqlx::{Connection, PgConnection};

/// The PostgreSQL server's maintenance URL (the `postgres` database).
pub fn admin_database_url() -> String {
    std::env::var("STACK_ADMIN_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// URL of database `name` on the same server as [`admin_database_url`].
pub fn database_url(name: &str) -> String {
    let admin = admin_database_url();
    match admin.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => format!("{admin}/{name}"),
    }
}

/// Creates the database unless it exists.
pub async fn create_database(name: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(&admin_database_url())
        .await
        .context("cannot connect to PostgreSQL as postgres@127.0.0.1")?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        sqlx::query(&format!("CREATE DATABASE \"{}\"", name.replace('"', "")))
            .execute(&mut conn)
            .await
            .with_context(|| format!("creating database {name}"))?;
    }
    Ok(())
}

pub async fn drop_database(name: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(&admin_database_url()).await?;
    sqlx::query(&format!(
        "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
        name.replace('"', "")
    ))
    .execute(&mut conn)
    .await?;
    Ok(())
}

/// Creates a RabbitMQ vhost with full rights for `guest`, through `rabbitmqctl`.
pub async fn create_vhost(name: &str) -> anyhow::Result<()> {
    rabbitmqctl(&["add_vhost", name]).await?;
    rabbitmqctl(&["set_permissions", "-p", name, "guest", ".*", ".*", ".*"]).await
}

pub async fn delete_vhost(name: &str) -> anyhow::Result<()> {
    rabbitmqctl(&["delete_vhost", name]).await
}

/// `amqp://` URL for a vhost on the local broker.
pub fn amqp_url(vhost: &str) -> String {
    let encoded = if vhost == "/" {
        "%2f".to_string()
    } else {
        vhost.to_string()
    };
    format!("amqp://guest:guest@127.0.0.1:5672/{encoded}")
}

pub async fn rabbitmqctl(args: &[&str]) -> anyhow::Result<()> {
    let out = tokio::process::Command::new("rabbitmqctl")
        .arg("-q")
        .args(args)
        .output()
        .await
        .context("running rabbitmqctl")?;
    anyhow::ensure!(
        out.status.success(),
        "rabbitmqctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
