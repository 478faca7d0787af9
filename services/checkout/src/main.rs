#[tokio::main]
async fn main() -> std::process::ExitCode {
    platform::service::run::<checkout::Application>().await
}
