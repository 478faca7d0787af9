use std::process::ExitCode;

use checkout::{Application, Settings};

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match platform::config::load::<Settings>() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // A bad plan table is a configuration error too: report it the same way.
    if let Err(e) = settings.plan_catalogue() {
        eprintln!("configuration error: PLANS: {e}");
        return ExitCode::from(2);
    }
    platform::telemetry::init("checkout");
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "checkout failed to start");
            return ExitCode::FAILURE;
        }
    };
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "checkout stopped with an error");
            ExitCode::FAILURE
        }
    }
}
