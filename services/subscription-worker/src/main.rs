use std::process::ExitCode;

use clap::Parser;
use subscription_worker::cli::{Cli, Command, DlqCommand};
use subscription_worker::settings::{BrokerSettings, DatabaseSettings};
use subscription_worker::{commands, Application};

#[tokio::main]
async fn main() -> ExitCode {
    let command = Cli::parse().command.unwrap_or(Command::Run);
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
        .map(|entries| {
            println!("message_id\tinvoice_id\tattempts\tdead_lettered_at\treason");
            for entry in &entries {
                println!("{}", entry.line());
            }
            println!("{} message(s)", entries.len());
        }),
        Command::Dlq {
            command: DlqCommand::Replay(args),
        } => commands::dlq_replay(
            &platform::service::settings_or_exit::<BrokerSettings>(),
            events::messaging::worker_topology(),
            &args.selector(),
        )
        .await
        .map(|replayed| {
            for entry in &replayed {
                println!("replayed {}", entry.line());
            }
            println!("{} message(s) replayed", replayed.len());
        }),
        Command::Reconcile {
            now: _,
            older_than_secs,
        } => {
            let older_than = older_than_secs.map(std::time::Duration::from_secs);
            commands::reconcile_now(
                &platform::service::settings_or_exit(),
                events::messaging::worker_topology(),
                older_than,
            )
            .await
            .map(|report| println!("{report:?}"))
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
