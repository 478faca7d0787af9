//! The `cryptocloud-sandbox` binary: starts with no configuration and prints the built-in
//! development credentials, and never prints configured ones.

use std::process::Stdio;
use std::time::Duration;

use cryptocloud_sandbox::{DEV_API_KEY, DEV_SECRET_KEY, DEV_SHOP_ID};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

struct Started {
    child: Child,
    output: String,
    base: String,
}

/// Runs the binary with only `env` set (no .env, no config files); returns what it printed
/// up to its credentials notice.
async fn start(env: &[(&str, &str)]) -> Started {
    let workdir =
        std::env::temp_dir().join(format!("sandbox-bin-{}-{}", std::process::id(), env.len()));
    std::fs::create_dir_all(&workdir).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_cryptocloud-sandbox"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("APP_CONFIG_DIR", workdir.join("no-config"))
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "warn")
        .current_dir(&workdir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("the binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut output = String::new();
    let mut base = String::new();
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            output.push_str(&line);
            output.push('\n');
            if let Some(rest) = line.strip_prefix("cryptocloud-sandbox listening on ") {
                base = rest.trim().to_owned();
            }
            if line.contains("SANDBOX_SECRET_KEY") {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("the binary printed its banner");
    Started {
        child,
        output,
        base,
    }
}

#[tokio::test]
async fn with_no_configuration_it_prints_the_builtin_credentials_and_serves() {
    let mut started = start(&[("SANDBOX_LISTEN", "127.0.0.1:0")]).await;
    for value in [DEV_API_KEY, DEV_SHOP_ID, DEV_SECRET_KEY] {
        assert!(
            started.output.contains(value),
            "{value} not printed: {}",
            started.output
        );
    }
    let health = reqwest::get(format!("{}/healthz", started.base))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    started.child.kill().await.unwrap();
}

#[tokio::test]
async fn configured_credentials_are_never_printed() {
    let mut started = start(&[
        ("SANDBOX_LISTEN", "127.0.0.1:0"),
        ("SANDBOX_API_KEY", "configured-api-key-4711"),
        ("SANDBOX_SHOP_ID", "configured-shop-4712"),
        ("SANDBOX_SECRET_KEY", "configured-secret-4713"),
    ])
    .await;
    // The banner is out; the server answers, and nothing printed names a credential.
    let health = reqwest::get(format!("{}/healthz", started.base))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    for secret in [
        "configured-api-key-4711",
        "configured-shop-4712",
        "configured-secret-4713",
        DEV_API_KEY,
    ] {
        assert!(
            !started.output.contains(secret),
            "{secret} printed: {}",
            started.output
        );
    }
    assert!(
        started.output.contains("configured (not shown)"),
        "{}",
        started.output
    );
    started.child.kill().await.unwrap();
}

#[tokio::test]
async fn a_bad_setting_stops_it_with_one_line_naming_the_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_cryptocloud-sandbox"))
        .env_clear()
        .env("SANDBOX_POSTBACK_FORMAT", "xml")
        .env("APP_CONFIG_DIR", "/nonexistent")
        .current_dir(std::env::temp_dir())
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SANDBOX_POSTBACK_FORMAT"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[tokio::test]
async fn without_a_listen_address_it_uses_port_8088() {
    // Needs 8088 free: a running local stack (scripts/run.sh) holds it, so stop that first.
    assert!(
        std::net::TcpListener::bind("0.0.0.0:8088").is_ok(),
        "port 8088 is busy: stop whatever listens there (e.g. scripts/run.sh) and run again"
    );
    let mut started = start(&[]).await;
    assert_eq!(started.base, "http://127.0.0.1:8088");
    assert!(
        started.output.contains("http://localhost:8088/<CODE>"),
        "{}",
        started.output
    );
    started.child.kill().await.unwrap();
}
