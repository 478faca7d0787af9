use platform::broker::Topology;
use webhook_ingest::{Application, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings: Settings = match platform::config::load() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("{err}");
            std::process::exit(2);
        }
    };
    platform::telemetry::init("webhook-ingest");
    let shutdown = platform::shutdown::on_signal();
    let app = Application::build_with_shutdown(settings, Topology::contract(), shutdown).await?;
    app.run_until_stopped().await?;
    tracing::info!("webhook-ingest stopped");
    Ok(())
}
