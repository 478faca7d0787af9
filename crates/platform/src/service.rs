//! The one shape of every service's `Application` and the one `main` they share: load the
//! settings (a bad one is one line and exit code 2), start telemetry, build (tests build
//! the same thing on port 0), run until SIGTERM/SIGINT cancels the shutdown token, drain.

use std::future::Future;
use std::process::ExitCode;

use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

/// A service's `Application`.
pub trait Service: Sized {
    /// The binary's name, for logs.
    const NAME: &'static str;
    /// The variable naming its listen address, and the address when it is unset: what
    /// `BINARY healthcheck` probes.
    const LISTEN: (&'static str, &'static str);
    /// What `BINARY healthcheck` asks for: ready means serving what it is for.
    const HEALTHCHECK_PATH: &'static str = "/readyz";
    type Settings: DeserializeOwned;

    /// Checks what deserialising cannot (e.g. a plan table), before anything starts.
    fn check(_settings: &Self::Settings) -> Result<(), String> {
        Ok(())
    }

    /// Binds its listener and starts its background work; serving starts at once.
    fn build(settings: Self::Settings) -> impl Future<Output = anyhow::Result<Self>>;

    /// The bound port (the real one when the settings said 0).
    fn port(&self) -> u16;

    /// Cancelling it stops the service: no new work is taken, in-flight work finishes.
    fn shutdown_token(&self) -> CancellationToken;

    /// Runs until the shutdown token is cancelled (or the server fails), then drains.
    fn run_until_stopped(self) -> impl Future<Output = anyhow::Result<()>>;

    /// Said once the service is built (e.g. the sandbox's credentials).
    fn announce(&self) {
        tracing::info!(port = self.port(), "{} started", Self::NAME);
    }
}

/// Loads `S` from the configuration files and the environment, or prints the one-line
/// error naming the variable and exits with code 2.
pub fn settings_or_exit<S: DeserializeOwned>() -> S {
    match crate::config::load::<S>() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}

/// The whole life of a service process, for its `main`; `BINARY healthcheck` probes a
/// running one instead.
pub async fn run<A: Service>() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return healthcheck::<A>();
    }
    let settings: A::Settings = settings_or_exit();
    if let Err(problem) = A::check(&settings) {
        eprintln!("configuration error: {problem}");
        return ExitCode::from(2);
    }
    crate::telemetry::init(A::NAME);
    serve::<A>(settings).await
}

/// Builds and runs `A` with the given settings until a shutdown signal.
pub async fn serve<A: Service>(settings: A::Settings) -> ExitCode {
    let app = match A::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "{} failed to start", A::NAME);
            eprintln!("{} cannot start: {e:#}", A::NAME);
            return ExitCode::FAILURE;
        }
    };
    app.announce();
    let stop = app.shutdown_token();
    let signal = crate::shutdown::on_signal();
    tokio::spawn(async move {
        signal.cancelled().await;
        stop.cancel();
    });
    match app.run_until_stopped().await {
        Ok(()) => {
            tracing::info!("{} stopped", A::NAME);
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(
                error = format!("{e:#}"),
                "{} stopped with an error",
                A::NAME
            );
            ExitCode::FAILURE
        }
    }
}

/// Serves `server` until `token` is cancelled, then stops it gracefully (in-flight requests
/// finish); returns when it has stopped, or at once if it failed.
pub async fn serve_until(
    token: &CancellationToken,
    server: actix_web::dev::Server,
) -> std::io::Result<()> {
    let handle = server.handle();
    let token = token.clone();
    let stopper = tokio::spawn(async move {
        token.cancelled().await;
        handle.stop(true).await;
    });
    let result = server.await;
    stopper.abort();
    result
}

/// [`serve_until`], then the background `tasks` stop too (the server ends on its own only
/// if it failed: the rest is stopped then as well) and are waited for, so work in flight
/// finishes before the process exits.
pub async fn serve_then_join(
    token: &CancellationToken,
    server: actix_web::dev::Server,
    tasks: Vec<tokio::task::JoinHandle<()>>,
) -> anyhow::Result<()> {
    let served = serve_until(token, server).await;
    token.cancel();
    for task in tasks {
        let _ = task.await;
    }
    served.map_err(Into::into)
}

/// `BINARY healthcheck`: an HTTP GET of the running service's own
/// [`Service::HEALTHCHECK_PATH`] on the port of its listen variable, for container
/// healthchecks (the images have no shell and no curl). Exit code 0 on a 200, 1 otherwise,
/// with one line saying what it got.
pub fn healthcheck<A: Service>() -> ExitCode {
    let (variable, default) = A::LISTEN;
    let listen = std::env::var(variable).unwrap_or_else(|_| default.to_string());
    match probe(
        &listen,
        A::HEALTHCHECK_PATH,
        std::time::Duration::from_secs(3),
    ) {
        Ok(200) => {
            println!("{}: {} answered 200", A::NAME, A::HEALTHCHECK_PATH);
            ExitCode::SUCCESS
        }
        Ok(status) => {
            eprintln!("{}: {} answered {status}", A::NAME, A::HEALTHCHECK_PATH);
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{}: no answer on {listen} ({variable}): {e}", A::NAME);
            ExitCode::FAILURE
        }
    }
}

/// The status of `GET path` on the service listening at `listen` (an unspecified host,
/// `0.0.0.0` or `[::]`, is reached on loopback).
pub fn probe(listen: &str, path: &str, timeout: std::time::Duration) -> std::io::Result<u16> {
    use std::io::{Read, Write};
    use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, what.to_string());
    let mut addr: SocketAddr = listen
        .parse()
        .map_err(|_| invalid("the listen address is not host:port"))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 64];
    let mut read = 0;
    while read < 12 {
        let n = stream.read(&mut head[read..])?;
        if n == 0 {
            break;
        }
        read += n;
    }
    let line = String::from_utf8_lossy(&head[..read]);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("the answer is not HTTP"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn answering(status: &'static str) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                // The whole request first: closing with unread bytes would be a reset.
                let mut seen = Vec::new();
                let mut buf = [0u8; 1024];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = write!(s, "HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
                let _ = s.shutdown(std::net::Shutdown::Write);
                let _ = s.read_to_end(&mut seen);
            }
        });
        format!("0.0.0.0:{}", addr.port())
    }

    #[test]
    fn the_probe_reads_the_status_on_loopback() {
        let t = std::time::Duration::from_secs(3);
        assert_eq!(probe(&answering("200 OK"), "/readyz", t).unwrap(), 200);
        assert_eq!(
            probe(&answering("503 Service Unavailable"), "/readyz", t).unwrap(),
            503
        );
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        assert!(probe(&format!("127.0.0.1:{closed}"), "/readyz", t).is_err());
        assert!(probe("not an address", "/readyz", t).is_err());
    }
}
