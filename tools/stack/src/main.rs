//! `stack`: runs checkout, webhook-ingest, subscription-worker, event-dispatcher and the
//! CryptoCloud sandbox together against the local PostgreSQL and RabbitMQ, with a demo
//! receiver printing the merchant webhooks. `--demo` takes one payment end to end in an
//! isolated copy of the stack and exits. `stack trigger <scenario>` and `stack listen`
//! drive and follow a stack that is already running.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::json;
use stack::client::StackClient;
use stack::dev_credentials as dev;
use stack::receiver::DemoReceiver;
use stack::trigger::{Scenario, Target};
use stack::{LogMode, Ports, Stack, StackConfig};

/// Where the demo receiver listens in the developer's stack.
const RECEIVER_ADDR: &str = "127.0.0.1:8084";

#[derive(Parser)]
#[command(about = "Run the whole payments stack locally, with the sandbox in place of CryptoCloud")]
struct Args {
    /// Take one scripted payment end to end, print the plan before and after, and exit.
    #[arg(long)]
    demo: bool,
    /// Watch a whole subscription in seconds, on an isolated stack whose clock this tool
    /// moves (development only): purchase, reminder, renewal paid, cancel, expiry to free.
    #[arg(long, conflicts_with = "demo")]
    demo_lifecycle: bool,
    /// How the sandbox sends postbacks: json or form.
    #[arg(long, default_value = "json")]
    postback_format: String,
    /// User id of the development sign-in link.
    #[arg(long, default_value_t = 1)]
    user_id: i64,
    /// Folder with the service binaries (default: next to this one).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Drive the running stack through the sandbox and print what each service did; fails
    /// when the stack did something the contract does not allow.
    Trigger {
        scenario: Scenario,
        /// The paying user.
        #[arg(long, default_value_t = 1)]
        user: i64,
        /// How long to wait for each service.
        #[arg(long, default_value_t = 30)]
        wait_secs: u64,
        /// One JSON report instead of lines.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Follow the running stack: postbacks, payments, events and webhooks, a line each.
    Listen {
        /// JSON lines instead of text.
        #[arg(long)]
        json: bool,
        /// The stack's database (default: `payments` on the server of
        /// STACK_ADMIN_DATABASE_URL, as `scripts/run.sh` starts it).
        #[arg(long, env = "STACK_DATABASE_URL")]
        database_url: Option<String>,
        #[command(flatten)]
        target: TargetArgs,
    },
}

/// Where the running stack answers (default: the ports `scripts/run.sh` uses).
#[derive(clap::Args)]
struct TargetArgs {
    #[arg(long)]
    checkout_url: Option<String>,
    #[arg(long)]
    sandbox_url: Option<String>,
    #[arg(long)]
    dispatcher_url: Option<String>,
    #[arg(long, env = "ADMIN_TOKEN", default_value = dev::ADMIN_TOKEN, hide_env_values = true)]
    admin_token: String,
}

impl TargetArgs {
    fn target(self) -> Target {
        let ports = Ports::contract();
        let local = |port: u16| format!("http://127.0.0.1:{port}");
        Target {
            checkout: self.checkout_url.unwrap_or_else(|| local(ports.checkout)),
            sandbox: self.sandbox_url.unwrap_or_else(|| local(ports.sandbox)),
            dispatcher: self
                .dispatcher_url
                .unwrap_or_else(|| local(ports.dispatcher)),
            admin_token: self.admin_token,
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.command {
        Some(Command::Trigger {
            scenario,
            user,
            wait_secs,
            json,
            target,
        }) => return trigger(target.target(), scenario, user, wait_secs, json).await,
        Some(Command::Listen {
            json,
            database_url,
            target,
        }) => return listen(target.target(), database_url, json).await,
        None => {}
    }
    let bin_dir = match args.bin_dir {
        Some(dir) => dir,
        None => std::env::current_exe()?
            .parent()
            .map(PathBuf::from)
            .ok_or_else(|| anyhow::anyhow!("cannot locate the binaries"))?,
    };
    if args.demo_lifecycle {
        demo_lifecycle(bin_dir).await
    } else if args.demo {
        demo(bin_dir, &args.postback_format).await
    } else {
        run(bin_dir, &args.postback_format, args.user_id).await
    }
}

async fn run(bin_dir: PathBuf, postback_format: &str, user_id: i64) -> anyhow::Result<()> {
    let receiver = DemoReceiver::start(RECEIVER_ADDR, dev::WEBHOOK_SECRET, true)?;
    let mut config = StackConfig::development(bin_dir);
    config.postback_format = postback_format.to_string();
    config.webhook_endpoints = Some(receiver.endpoints_setting());
    let mut stack = Stack::start(config).await?;
    let checkout = stack.checkout_url();
    println!();
    println!("  The stack is up (Ctrl-C stops it).");
    println!("  Sign in (development only):  {checkout}/dev/login?user_id={user_id}");
    println!("  Dashboard:                   {checkout}/dashboard");
    println!("  Checkout API docs:           {checkout}/docs");
    println!("  CryptoCloud sandbox:         {}", stack.sandbox_url());
    println!(
        "  Webhook ingest:              {}/api/webhook/payment",
        stack.ingest_url()
    );
    println!(
        "  Worker metrics:              {}/metrics",
        stack.worker_url()
    );
    println!(
        "  Event dispatcher admin API:  {}/api/v1/admin/webhook-endpoints (Bearer {})",
        stack.dispatcher_url(),
        dev::ADMIN_TOKEN
    );
    println!(
        "  Demo webhook receiver:       {} (prints each event below)",
        receiver.url()
    );
    println!();
    let mut check = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = check.tick() => {
                let exited: Vec<String> = ["checkout", "webhook-ingest", "subscription-worker", "event-dispatcher", "cryptocloud-sandbox"]
                    .into_iter()
                    .filter(|name| !stack.service_mut(name).is_running())
                    .map(str::to_string)
                    .collect();
                if !exited.is_empty() {
                    eprintln!("{} exited; stopping the stack", exited.join(", "));
                    stack.stop().await?;
                    std::process::exit(1);
                }
            }
        }
    }
    println!("stopping…");
    stack.stop().await
}

async fn trigger(
    target: Target,
    scenario: Scenario,
    user: i64,
    wait_secs: u64,
    as_json: bool,
) -> anyhow::Result<()> {
    let report = stack::trigger::run(
        &target,
        scenario,
        user,
        Duration::from_secs(wait_secs),
        |step| {
            if !as_json {
                println!("{:<10} {}", step.service, step.what);
            }
        },
    )
    .await?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if report.unexpected.is_empty() {
        println!("as expected");
    }
    anyhow::ensure!(
        report.unexpected.is_empty(),
        "not what the contract expects: {}",
        report.unexpected.join("; ")
    );
    Ok(())
}

async fn listen(target: Target, database_url: Option<String>, as_json: bool) -> anyhow::Result<()> {
    let url = database_url.unwrap_or_else(|| stack::infra::database_url("payments"));
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to the stack's database: {e}"))?;
    let sources = stack::listen::Sources {
        sandbox: target.sandbox,
        pool,
    };
    stack::listen::follow(
        &sources,
        Duration::from_millis(300),
        || {
            if !as_json {
                println!("listening (Ctrl-C stops): postbacks, payments, events, webhooks");
            }
        },
        |line| {
            if as_json {
                println!(
                    "{}",
                    serde_json::to_string(line).expect("a line serialises")
                );
            } else {
                println!(
                    "{} {:<8} {}",
                    line.at.format("%H:%M:%S%.3f"),
                    line.kind,
                    line.what
                );
            }
        },
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    )
    .await
}

async fn demo(bin_dir: PathBuf, postback_format: &str) -> anyhow::Result<()> {
    let log_dir = std::env::temp_dir().join(format!("payments-demo-{}", std::process::id()));
    std::fs::create_dir_all(&log_dir)?;
    let receiver = DemoReceiver::start("127.0.0.1:0", dev::WEBHOOK_SECRET, true)?;
    let mut config = StackConfig::isolated(bin_dir, log_dir.clone())?;
    config.postback_format = postback_format.to_string();
    config.webhook_endpoints = Some(receiver.endpoints_setting());
    config.log = LogMode::Dir(log_dir.clone());
    println!(
        "demo: starting an isolated stack (database {}, vhost {}; logs in {})",
        config.database,
        config.vhost,
        log_dir.display()
    );
    let stack = Stack::start(config).await?;
    let result = demo_payment(&stack, &receiver).await;
    stack.destroy().await?;
    receiver.stop().await;
    result
}

async fn demo_payment(stack: &Stack, receiver: &DemoReceiver) -> anyhow::Result<()> {
    let client = StackClient::new(&stack.checkout_url(), &stack.sandbox_url())?;
    let user_id = 4242;
    let before = client.subscription(user_id).await?;
    println!("before: {}", plan_line(&before));
    let payment = client.checkout(user_id, "pro", 1).await?;
    let invoice = payment["invoice_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    println!(
        "checkout: payment {} invoice {} for {} {} -> {}",
        payment["payment_id"],
        invoice,
        payment["amount"].as_str().unwrap_or("?"),
        payment["currency"].as_str().unwrap_or("?"),
        payment["payment_url"].as_str().unwrap_or("?")
    );
    client.pay(&invoice, json!({})).await?;
    println!("sandbox: invoice {invoice} paid; postback on its way");
    let after = client
        .wait_for_subscription(user_id, Duration::from_secs(30), |s| s["tier"] == "pro")
        .await?;
    println!("after:  {}", plan_line(&after));
    // The merchant hears of it: the payment, then the plan.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let wanted = ["payment.completed", "subscription.upgraded"];
    loop {
        let got = receiver.received();
        let arrived = wanted
            .iter()
            .all(|t| got.iter().any(|e| e.event_type == *t && e.verified));
        if arrived {
            println!(
                "merchant webhooks: {} received, signatures verified",
                wanted.join(" and ")
            );
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the demo receiver did not get {wanted:?} within 30 s (got {:?})",
            got.iter().map(|e| &e.event_type).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn demo_lifecycle(bin_dir: PathBuf) -> anyhow::Result<()> {
    let log_dir = std::env::temp_dir().join(format!("payments-lifecycle-{}", std::process::id()));
    std::fs::create_dir_all(&log_dir)?;
    let receiver = DemoReceiver::start("127.0.0.1:0", dev::WEBHOOK_SECRET, true)?;
    let mut config = StackConfig::isolated(bin_dir, log_dir.clone())?;
    config.webhook_endpoints = Some(receiver.endpoints_setting());
    config.log = LogMode::Dir(log_dir.clone());
    config.dev_clock = true;
    println!(
        "lifecycle demo: an isolated stack with a clock this demo moves (database {}, logs in {})",
        config.database,
        log_dir.display()
    );
    let stack = Stack::start(config).await?;
    let result = lifecycle(&stack, &receiver).await;
    stack.destroy().await?;
    receiver.stop().await;
    result
}

/// Waits until the demo receiver has a verified webhook of `event_type` for the user.
async fn webhook(receiver: &DemoReceiver, event_type: &str, user_id: i64) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let arrived = receiver.received().iter().any(|e| {
            e.event_type == event_type && e.verified && e.body["data"]["user_id"] == user_id
        });
        if arrived {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no {event_type} webhook within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn expiry_of(sub: &serde_json::Value) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    sub["expires_at"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no expiry in {sub}"))?
        .parse()
        .map_err(|e| anyhow::anyhow!("expiry: {e}"))
}

async fn lifecycle(stack: &Stack, receiver: &DemoReceiver) -> anyhow::Result<()> {
    let client = StackClient::new(&stack.checkout_url(), &stack.sandbox_url())?;
    let (db, sandbox) = (stack.database_url(), stack.sandbox_url());
    let user = 4343;
    let wait = Duration::from_secs(30);
    // How far the stack's clock is ahead of this process's.
    let mut ahead = chrono::Duration::zero();
    let travel = |to: chrono::DateTime<chrono::Utc>, ahead_now: chrono::Duration| {
        let by = (to - (chrono::Utc::now() + ahead_now)).max(chrono::Duration::zero());
        (by, ahead_now + by)
    };

    let payment = client.checkout(user, "pro", 1).await?;
    let invoice = payment["invoice_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    client.pay(&invoice, json!({})).await?;
    let sub = client
        .wait_for_subscription(user, wait, |s| s["tier"] == "pro")
        .await?;
    let first_expiry = expiry_of(&sub)?;
    webhook(receiver, "subscription.upgraded", user).await?;
    println!("1. bought Pro for a month ({invoice} paid): renews, expires {first_expiry}");

    let (by, next) = travel(first_expiry - chrono::Duration::days(6), ahead);
    ahead = next;
    let now = stack::devclock::advance(&db, &sandbox, by.to_std()?).await?;
    println!("   … the clock moves on {} days, to {now}", by.num_days());
    let sub = client
        .wait_for_subscription(user, wait, |s| !s["renewal"].is_null())
        .await?;
    webhook(receiver, "subscription.renewal_due", user).await?;
    let renewal = &sub["renewal"];
    let renewal_invoice = renewal["invoice_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    println!(
        "2. inside the 7-day notice: renewal invoice {renewal_invoice} for {} {} opened, reminder sent ({})",
        renewal["amount"].as_str().unwrap_or("?"),
        renewal["currency"].as_str().unwrap_or("?"),
        renewal["payment_url"].as_str().unwrap_or("?"),
    );

    client.pay(&renewal_invoice, json!({})).await?;
    let sub = client
        .wait_for_subscription(user, wait, |s| {
            expiry_of(s).is_ok_and(|e| e > first_expiry) && s["renewal"].is_null()
        })
        .await?;
    let second_expiry = expiry_of(&sub)?;
    println!("3. renewal paid: extended from the old expiry to {second_expiry}");

    let sub = client.change_subscription(user, "cancel").await?;
    webhook(receiver, "subscription.canceled", user).await?;
    println!(
        "4. canceled: renews={}, Pro stays until {second_expiry}",
        sub["renews"]
    );

    let (by, _) = travel(second_expiry + chrono::Duration::hours(1), ahead);
    let now = stack::devclock::advance(&db, &sandbox, by.to_std()?).await?;
    println!("   … the clock moves on {} days, to {now}", by.num_days());
    let sub = client
        .wait_for_subscription(user, wait, |s| s["tier"] == "free")
        .await?;
    webhook(receiver, "subscription.expired", user).await?;
    println!("5. the plan ended: {}", plan_line(&sub));
    println!("lifecycle demo: every step as the contract says");
    Ok(())
}

fn plan_line(sub: &serde_json::Value) -> String {
    format!(
        "tier={} expires={} requests_limit={}",
        sub["tier"].as_str().unwrap_or("?"),
        sub["expires_at"]
            .as_str()
            .or(sub["subscription_expires"].as_str())
            .unwrap_or("-"),
        sub["requests_limit"]
    )
}
