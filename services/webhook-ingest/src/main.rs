#[tokio::main]
async fn main() -> std::process::ExitCode {
    platform::service::run::<webhook_ingest::Application>().await
}
