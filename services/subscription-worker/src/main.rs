use std::process::ExitCode;

use clap::Parser;
use subscription_worker::cli::{Cli, Command, DlqCommand};
use subscription_worker::settings::{BrokerSettings, DatabaseSettings};
use subscription_worker::{commands, report, Application};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = cli.format();
    let command = cli.command.unwrap_or(Command::Run);
    if matches!(command, Command::Run) {
        return platform::service::run::<Application>().await;
    }
    if matches!(command, Command::Healthcheck) {
        return platform::service::healthcheck::<Application>();
    }
    platform::telemetry::init("subscription-worker");
    let result = match command {
        Command::Run | Command::Healthcheck => unreachable!("handled above"),
        Command::Migrate => {
            commands::migrate(&platform::service::settings_or_exit::<DatabaseSettings>())
                .await
                .map(|()| println!("migrations applied"))
        }
        Command::Dlq {
            command: DlqCommand::List,
        } => commands::dlq_list(
            &platform::service::settings_or_exit::<BrokerSettings>(),
            events::messaging::worker_topology(),
        )
        .await
        .map(|entries| println!("{}", report::dead_letters(&entries, false, format))),
        Command::Dlq {
            command: DlqCommand::Replay(args),
        } => commands::dlq_replay(
            &platform::service::settings_or_exit::<BrokerSettings>(),
            events::messaging::worker_topology(),
            &args.selector(),
        )
        .await
        .map(|replayed| println!("{}", report::dead_letters(&replayed, true, format))),
        Command::Reconcile {
            now: _,
            older_than_secs,
        } => {
            let settings: subscription_worker::Settings = platform::service::settings_or_exit();
            let older_than = older_than_secs
                .map(std::time::Duration::from_secs)
                .unwrap_or_else(|| settings.reconcile_after());
            commands::reconcile_now(
                &settings,
                events::messaging::worker_topology(),
                Some(older_than),
            )
            .await
            .map(|done| {
                println!(
                    "{}",
                    report::reconciliation(&done, older_than.as_secs(), format)
                )
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "subscription-worker failed");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
