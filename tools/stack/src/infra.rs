//! Databases and RabbitMQ vhosts for a stack.

use anyhow::Context;
use sqlx::{Connection, PgConnection};

/// The PostgreSQL server's maintenance URL: `STACK_ADMIN_DATABASE_URL` (the run and test
/// commands set it from what `scripts/services.sh` found), else `postgres` on 127.0.0.1.
pub fn admin_database_url() -> String {
    std::env::var("STACK_ADMIN_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// Where [`admin_database_url`] points, without its password, for error messages.
fn server_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => "STACK_ADMIN_DATABASE_URL (not a URL)".to_string(),
    }
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
    let admin = admin_database_url();
    let mut conn = PgConnection::connect(&admin).await.with_context(|| {
        format!(
            "cannot connect to PostgreSQL at {} (scripts/services.sh finds the server and a role; PGHOST/PGPORT choose it)",
            server_of(&admin)
        )
    })?;
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

/// Runs `RABBITMQCTL` (set by `scripts/services.sh`: Debian's `/usr/sbin/rabbitmqctl`,
/// through `sudo -n` for a user who is not root), else `rabbitmqctl` from PATH.
pub async fn rabbitmqctl(args: &[&str]) -> anyhow::Result<()> {
    let configured = std::env::var("RABBITMQCTL").unwrap_or_else(|_| "rabbitmqctl".into());
    let mut words = configured.split_whitespace();
    let program = words.next().unwrap_or("rabbitmqctl");
    let out = tokio::process::Command::new(program)
        .args(words)
        .arg("-q")
        .args(args)
        .output()
        .await
        .with_context(|| {
            format!(
                "cannot run `{configured}`: RabbitMQ's tools are in /usr/sbin on Debian; run through ./scripts/run.sh or ./scripts/test.sh, or set RABBITMQCTL"
            )
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let said = [stderr.trim(), stdout.trim()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" / ");
        anyhow::bail!(
            "`{configured} {}` failed ({}): {}. rabbitmqctl runs only as root or rabbitmq: as another user, allow it through sudo without a password prompt, or set RABBITMQCTL",
            args.join(" "),
            out.status,
            if said.is_empty() { "it printed nothing" } else { &said },
        );
    }
    Ok(())
}
