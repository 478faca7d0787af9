#[tokio::main]
async fn main() -> std::process::ExitCode {
    platform::service::run::<event_dispatcher::Application>().await
}
