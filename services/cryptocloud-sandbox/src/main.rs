//! `cryptocloud-sandbox`: with no configuration it listens on 0.0.0.0:8088 and prints the
//! built-in development credentials it accepts.

use std::process::ExitCode;

use cryptocloud_sandbox::{Application, Settings};

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match platform::config::load::<Settings>() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    platform::telemetry::init("cryptocloud-sandbox");
    let notice = settings.credentials_notice();
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("cryptocloud-sandbox cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("cryptocloud-sandbox listening on {}", app.base_url());
    println!(
        "payment pages at {}/<CODE>, control API at {}/sandbox",
        app.public_url(),
        app.base_url()
    );
    println!("{notice}");

    let handle = app.handle();
    let shutdown = platform::shutdown::on_signal();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        handle.stop(true).await;
    });
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cryptocloud-sandbox stopped: {e}");
            ExitCode::FAILURE
        }
    }
}
