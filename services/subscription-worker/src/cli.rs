//! Command line: the worker itself and the operator commands on the same binary.

use clap::{Args, Parser, Subcommand};

use crate::dlq::Selector;

#[derive(Debug, Parser)]
#[command(
    name = "subscription-worker",
    version,
    about = "Applies CryptoCloud payments to subscriptions"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The operator commands print JSON for scripts instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

impl Cli {
    pub fn format(&self) -> crate::report::Format {
        if self.json {
            crate::report::Format::Json
        } else {
            crate::report::Format::Table
        }
    }
}

#[derive(Debug, Subcommand, PartialEq, Eq)]
pub enum Command {
    /// Consume postbacks, run the sweeps and serve /healthz, /readyz, /metrics (the default).
    Run,
    /// Apply pending database migrations and exit (needs only DATABASE_URL).
    Migrate,
    /// Ask the running worker's /readyz (on WORKER_LISTEN's port); exit 0 when ready.
    Healthcheck,
    /// Inspect or replay the dead-letter queue (needs only AMQP_URL).
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Look up pending payments at CryptoCloud and settle them, once, now.
    Reconcile {
        /// Run right away (required: a reminder that this touches payments).
        #[arg(long, required = true)]
        now: bool,
        /// Only payments pending longer than this (default: WORKER_RECONCILE_AFTER_SECS).
        #[arg(long)]
        older_than_secs: Option<u64>,
    },
}

#[derive(Debug, Subcommand, PartialEq, Eq)]
pub enum DlqCommand {
    /// Print every dead-lettered message: message id, invoice id, attempts, when, reason.
    List,
    /// Put messages back on the work queue, with fresh attempts.
    Replay(ReplayArgs),
}

#[derive(Debug, Args, PartialEq, Eq)]
#[group(required = true, multiple = false)]
pub struct ReplayArgs {
    /// Every message in the DLQ.
    #[arg(long)]
    pub all: bool,
    /// The message with this message id.
    #[arg(long)]
    pub id: Option<String>,
}

impl ReplayArgs {
    pub fn selector(&self) -> Selector {
        match &self.id {
            Some(id) => Selector::Id(id.clone()),
            None => Selector::All,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("subscription-worker").chain(args.iter().copied()))
    }

    #[test]
    fn the_operator_commands_parse() {
        assert_eq!(parse(&[]).unwrap().command, None);
        assert_eq!(parse(&["migrate"]).unwrap().command, Some(Command::Migrate));
        assert_eq!(
            parse(&["dlq", "list"]).unwrap().command,
            Some(Command::Dlq {
                command: DlqCommand::List
            })
        );
        let Some(Command::Dlq {
            command: DlqCommand::Replay(args),
        }) = parse(&["dlq", "replay", "--id", "m-1"]).unwrap().command
        else {
            panic!("not a replay")
        };
        assert_eq!(args.selector(), Selector::Id("m-1".into()));
        let Some(Command::Dlq {
            command: DlqCommand::Replay(args),
        }) = parse(&["dlq", "replay", "--all"]).unwrap().command
        else {
            panic!("not a replay")
        };
        assert_eq!(args.selector(), Selector::All);
        assert_eq!(
            parse(&["reconcile", "--now"]).unwrap().command,
            Some(Command::Reconcile {
                now: true,
                older_than_secs: None
            })
        );
    }

    #[test]
    fn ambiguous_or_incomplete_commands_are_refused() {
        assert!(parse(&["dlq", "replay"]).is_err());
        assert!(parse(&["dlq", "replay", "--all", "--id", "x"]).is_err());
        assert!(parse(&["reconcile"]).is_err());
        assert!(parse(&["bogus"]).is_err());
    }
}
