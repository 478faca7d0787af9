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

/// The whole life of a service process, for its `main`.
pub async fn run<A: Service>() -> ExitCode {
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
