use std::process::ExitCode;

use clap::Parser;
use platform::broker::Topology;
use serde::de::DeserializeOwned;
use subscription_worker::cli::{Cli, Command, DlqCommand};
use subscription_worker::settings::{BrokerSettings, DatabaseSettings};
use subscription_worker::{commands, Application, Settings};

/// Loads settings or prints the one-line configuration error and exits with 2.
fn settings<S: DeserializeOwned>() -> S {
    match platform::config::load::<S>() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    platform::telemetry::init("subscription-worker");
    let result = match cli.command.unwrap_or(Command::Run) {
        Command::Run => run(settings()).await,
        Command::Migrate => commands::migrate(&settings::<DatabaseSettings>())
            .await
            .map(|()| println!("migrations applied")),
        Command::Dlq {
            command: DlqCommand::List,
        } => commands::dlq_list(&settings::<BrokerSettings>(), Topology::contract())
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
            &settings::<BrokerSettings>(),
            Topology::contract(),
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
            commands::reconcile_now(&settings(), Topology::contract(), older_than)
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

async fn run(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings, Topology::contract()).await?;
    tracing::info!(port = app.port(), "subscription-worker started");
    let stop = app.shutdown_token();
    let signal = platform::shutdown::on_signal();
    tokio::spawn(async move {
        signal.cancelled().await;
        stop.cancel();
    });
    app.run_until_stopped().await
}
