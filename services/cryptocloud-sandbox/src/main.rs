//! `cryptocloud-sandbox`: with no configuration it listens on 0.0.0.0:8088 and prints the
//! built-in development credentials it accepts.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    platform::service::run::<cryptocloud_sandbox::Application>().await
}
