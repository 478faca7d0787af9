//! Chaos: 500 paid invoices whose postbacks are sent while (a) the worker is killed with
//! SIGKILL twice and restarted, (b) RabbitMQ is stopped and started, (c) PostgreSQL is
//! restarted. Afterwards every payment is applied exactly once, the ingest answered only
//! 200 or 503 (never 500), and nothing but the killed worker needed a restart.
//!
//! These tests stop the machine's shared RabbitMQ and PostgreSQL, so they are `#[ignore]`d
//! in the normal suite and run alone by `.ci/run` (`scripts/chaos.sh`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use stack::client::StackClient;
use stack::{Stack, StackConfig};

const INVOICES: usize = 500;

fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(|p| p.parent())
        .expect("target/debug")
        .to_path_buf()
}

fn artifacts(test: &str) -> PathBuf {
    let root = std::env::var("ARTIFACTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../artifacts"));
    let dir = root.join("chaos").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("artifact dir");
    dir
}

/// Starts RabbitMQ's app again however the test ends.
struct RestoreBroker;
impl Drop for RestoreBroker {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["-q", "start_app"])
            .status();
    }
}

/// Starts PostgreSQL again however the test ends.
struct RestoreDatabase;
impl Drop for RestoreDatabase {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .args(["-c", "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | sort -V | tail -1) main start"])
            .status();
    }
}

async fn sh(cmd: &str) {
    let status = tokio::process::Command::new("bash")
        .args(["-c", cmd])
        .status()
        .await
        .expect("run");
    assert!(status.success(), "`{cmd}` failed");
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not reached within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One month of Pro for each of users 1..=n; their invoice ids.
async fn checkouts(client: &StackClient, n: usize) -> Vec<String> {
    stream::iter(1..=n as i64)
        .map(|user| {
            let client = client.clone();
            async move {
                let p = client.checkout(user, "pro", 1).await.expect("checkout");
                p["invoice_id"].as_str().unwrap().to_string()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await
}

/// Polls `sql` (a count) on the stack's database until it is `expected`.
async fn wait_for_count(what: &str, db_url: &str, sql: &'static str, expected: i64) {
    wait_until(what, Duration::from_secs(240), || async move {
        let Ok(mut conn) = PgConnection::connect(db_url).await else {
            return false;
        };
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&mut conn)
            .await
            .is_ok_and(|n| n == expected)
    })
    .await;
}

/// Every one of `users` is on Pro with exactly one paid month, whatever was duplicated.
async fn assert_one_month_each(conn: &mut PgConnection, users: usize, context: &str) {
    let rows: Vec<(i64, String, f64)> = sqlx::query_as(
        "SELECT id, subscription_tier, EXTRACT(EPOCH FROM subscription_expires - now())::float8 / 86400 FROM users ORDER BY id",
    )
    .fetch_all(conn)
    .await
    .unwrap();
    assert_eq!(rows.len(), users, "{context}");
    for (user, tier, days) in &rows {
        assert_eq!(tier, "pro", "user {user} {context}");
        assert!(
            (27.0..=31.5).contains(days),
            "user {user} has {days} days: not exactly one period {context}"
        );
    }
}

#[tokio::test]
#[ignore = "stops the shared RabbitMQ and PostgreSQL: run alone with scripts/chaos.sh"]
async fn five_hundred_payments_survive_worker_kills_and_broker_and_database_restarts() {
    let logs = artifacts("five-hundred");
    let mut config = StackConfig::isolated(bin_dir(), logs).unwrap();
    // Reconciliation stays out of the way (an hour), so the postback path alone is tested;
    // the sandbox retries a 503 long enough to outlast the broker outage.
    config.worker_reconcile_after_secs = 3600;
    config.extra_env.insert(
        "cryptocloud-sandbox".into(),
        BTreeMap::from([
            ("SANDBOX_POSTBACK_RETRIES".into(), "12".into()),
            ("SANDBOX_POSTBACK_BACKOFF_MS".into(), "200".into()),
        ]),
    );
    let mut stack = Stack::start(config).await.expect("stack starts");
    let client = StackClient::new(&stack.checkout_url(), &stack.sandbox_url()).unwrap();
    let pids: BTreeMap<&str, Option<u32>> = [
        ("checkout", stack.checkout.pid()),
        ("webhook-ingest", stack.ingest.pid()),
        ("cryptocloud-sandbox", stack.sandbox.pid()),
    ]
    .into();

    // 500 users, one Pro month each.
    let invoices: Vec<String> = checkouts(&client, INVOICES).await;

    // Pay them in five waves, with a fault between waves.
    let waves: Vec<Vec<String>> = invoices.chunks(INVOICES / 5).map(|c| c.to_vec()).collect();
    let pay = |wave: Vec<String>| {
        let client = client.clone();
        async move {
            stream::iter(wave)
                .for_each_concurrent(16, |inv| {
                    let client = client.clone();
                    async move {
                        client.pay(&inv, json!({})).await.expect("pay");
                    }
                })
                .await;
        }
    };
    let _restore_broker = RestoreBroker;
    let _restore_db = RestoreDatabase;

    let worker_ready = |url: String| async move {
        let http = reqwest::Client::new();
        wait_until("worker ready again", Duration::from_secs(60), || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                http.get(format!("{url}/readyz"))
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false)
            }
        })
        .await;
    };

    // (a) SIGKILL the worker twice while it applies, restarting it each time.
    pay(waves[0].clone()).await;
    stack.worker.kill().await.unwrap();
    pay(waves[1].clone()).await; // queued while no worker runs
    stack.worker.start().unwrap();
    worker_ready(stack.worker_url()).await;
    pay(waves[2].clone()).await;
    stack.worker.kill().await.unwrap();
    stack.worker.start().unwrap();
    worker_ready(stack.worker_url()).await;

    // (b) RabbitMQ away while postbacks arrive; the ingest must answer 503 meanwhile.
    sh("rabbitmqctl -q stop_app").await;
    pay(waves[3].clone()).await;
    tokio::time::sleep(Duration::from_secs(2)).await; // an outage long enough to see retries
    sh("rabbitmqctl -q start_app && rabbitmqctl -q await_startup").await;

    // (c) PostgreSQL restarted while the worker applies.
    pay(waves[4].clone()).await;
    sh("pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | sort -V | tail -1) main restart").await;

    // Every user ends on Pro with exactly one month.
    let db_url = stack.database_url();
    let completed = "SELECT count(*) FROM payments WHERE status = 'completed'";
    wait_for_count(
        "all 500 payments completed",
        &db_url,
        completed,
        INVOICES as i64,
    )
    .await;
    let mut conn = PgConnection::connect(&db_url).await.unwrap();
    assert_one_month_each(&mut conn, INVOICES, "").await;
    let inbox: i64 =
        sqlx::query_scalar("SELECT count(*) FROM processed_messages WHERE payment_id IS NOT NULL")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(inbox >= INVOICES as i64);

    // The ingest answered 200 or 503, never anything else; at least one 503 during the outage.
    let mut statuses: BTreeMap<u64, usize> = BTreeMap::new();
    for inv in &invoices {
        let deliveries: Value = client.deliveries(inv).await.unwrap();
        for d in deliveries.as_array().unwrap() {
            *statuses
                .entry(d["status"].as_u64().unwrap_or(0))
                .or_default() += 1;
        }
    }
    assert!(
        statuses.keys().all(|s| *s == 200 || *s == 503),
        "ingest answers: {statuses:?}"
    );
    assert!(
        statuses.get(&503).copied().unwrap_or(0) > 0,
        "no 503 while the broker was away: {statuses:?}"
    );
    assert!(
        statuses.get(&200).copied().unwrap_or(0) >= INVOICES,
        "{statuses:?}"
    );

    // Nothing but the worker was restarted.
    for (name, pid) in pids {
        assert!(stack.service_mut(name).is_running(), "{name} died");
        assert_eq!(stack.service_mut(name).pid(), pid, "{name} was restarted");
    }
    stack.destroy().await.unwrap();
}

/// One fault of the nemesis.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// SIGKILL one of the two workers, start it again after the pause.
    KillWorker(usize, Duration),
    /// SIGKILL the event dispatcher, start it again after the pause.
    KillDispatcher(Duration),
    /// SIGKILL the ingest, start it again after the pause.
    KillIngest(Duration),
    /// RabbitMQ's app stopped for this long.
    BrokerDown(Duration),
    /// PostgreSQL restarted.
    DatabaseRestart,
    /// CryptoCloud's API answers 503 for this long (longer than the attempt budget).
    ApiErrors(Duration),
    /// CryptoCloud's API closes every connection unanswered for this long.
    ApiUnreachable(Duration),
}

impl Fault {
    fn label(&self) -> &'static str {
        match self {
            Fault::KillWorker(..) => "kill_worker",
            Fault::KillIngest(_) => "kill_ingest",
            Fault::BrokerDown(_) => "broker_down",
            Fault::DatabaseRestart => "database_restart",
            Fault::ApiErrors(_) => "api_errors",
            Fault::ApiUnreachable(_) => "api_unreachable",
            Fault::KillDispatcher(_) => "kill_dispatcher",
        }
    }
}

/// What the nemesis does and when, drawn from one seed (so a run replays from its seed).
#[derive(Debug)]
struct Schedule {
    seed: u64,
    payments: usize,
    pay_over: Duration,
    faults: Vec<(Duration, Fault)>,
    /// Per payment: (times the postback is sent, delay before it, sent concurrently).
    postbacks: Vec<(u32, u64, bool)>,
}

impl Schedule {
    fn draw(seed: u64, payments: usize, faults: usize, pay_over: Duration) -> Self {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let ms = |rng: &mut rand::rngs::StdRng, lo: u64, hi: u64| {
            Duration::from_millis(rng.gen_range(lo..=hi))
        };
        let mut drawn: Vec<(Duration, Fault)> = (0..faults)
            .map(|_| {
                let at = ms(&mut rng, 0, pay_over.as_millis() as u64);
                let fault = match rng.gen_range(0..7) {
                    0 => Fault::KillWorker(rng.gen_range(0..2), ms(&mut rng, 100, 2_000)),
                    1 => Fault::KillIngest(ms(&mut rng, 100, 1_500)),
                    2 => Fault::BrokerDown(ms(&mut rng, 500, 4_000)),
                    3 => Fault::DatabaseRestart,
                    4 => Fault::ApiErrors(ms(&mut rng, 3_000, 10_000)),
                    5 => Fault::KillDispatcher(ms(&mut rng, 100, 2_000)),
                    _ => Fault::ApiUnreachable(ms(&mut rng, 3_000, 10_000)),
                };
                (at, fault)
            })
            .collect();
        drawn.sort_by_key(|(at, _)| *at);
        let postbacks = (0..payments)
            .map(|_| {
                let times = [1, 1, 1, 2, 3][rng.gen_range(0..5)];
                let delay = if rng.gen_bool(0.3) {
                    rng.gen_range(0..3_000)
                } else {
                    0
                };
                (times, delay, times > 1 && rng.gen_bool(0.5))
            })
            .collect();
        Schedule {
            seed,
            payments,
            pay_over,
            faults: drawn,
            postbacks,
        }
    }

    fn print(&self) {
        eprintln!(
            "nemesis: seed {} ({} payments paid over {:?}, {} faults); replay with NEMESIS_SEED={}",
            self.seed,
            self.payments,
            self.pay_over,
            self.faults.len(),
            self.seed
        );
        for (at, fault) in &self.faults {
            eprintln!("nemesis:   at {at:>8.1?}  {fault:?}");
        }
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, fault) in &self.faults {
            *counts.entry(fault.label()).or_default() += 1;
        }
        let duplicated = self.postbacks.iter().filter(|p| p.0 > 1).count();
        let delayed = self.postbacks.iter().filter(|p| p.1 > 0).count();
        eprintln!(
            "nemesis: fault counts {counts:?}; postbacks duplicated {duplicated}, delayed {delayed}"
        );
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

async fn sandbox_faults(http: &reqwest::Client, sandbox: &str, faults: Value) {
    let response = http
        .post(format!("{sandbox}/sandbox/faults"))
        .json(&faults)
        .send()
        .await
        .expect("sandbox control");
    assert!(response.status().is_success(), "{response:?}");
}

/// Messages in a queue of the stack's vhost, by `rabbitmqctl list_queues`.
async fn queue_messages(vhost: &str, queue: &str) -> u64 {
    let out = tokio::process::Command::new("rabbitmqctl")
        .args(["-q", "list_queues", "-p", vhost, "name", "messages"])
        .output()
        .await
        .expect("rabbitmqctl");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            let mut parts = l.split_whitespace();
            (parts.next() == Some(queue)).then(|| parts.next()?.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no queue {queue} in vhost {vhost}"))
}

/// The nemesis: payments through the ingest and two workers while a seeded, randomized
/// schedule kills workers and the ingest, stops RabbitMQ, restarts PostgreSQL, makes
/// CryptoCloud fail or vanish for longer than the attempt budget, and the postbacks come
/// duplicated and delayed. Afterwards every paid payment is completed exactly once, every
/// user extended exactly once, nothing is in the DLQ and no outbox row is older than a
/// minute. `NEMESIS_SEED` replays a run; `NEMESIS_PAYMENTS`, `NEMESIS_FAULTS` and
/// `NEMESIS_SECS` make a longer soak (defaults 2000, 12, 60).
#[tokio::test]
#[ignore = "stops the shared RabbitMQ and PostgreSQL: run alone with scripts/chaos.sh"]
async fn nemesis_randomized_faults_lose_and_double_nothing() {
    let seed = env_number(
        "NEMESIS_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    );
    let payments = env_number("NEMESIS_PAYMENTS", 2_000) as usize;
    let schedule = Schedule::draw(
        seed,
        payments,
        env_number("NEMESIS_FAULTS", 12) as usize,
        Duration::from_secs(env_number("NEMESIS_SECS", 60)),
    );
    schedule.print();

    let logs = artifacts("nemesis");
    let mut config = StackConfig::isolated(bin_dir(), logs.clone()).unwrap();
    // Reconciliation is the backstop it is in production, not the main path.
    config.worker_sweep_interval_secs = 5;
    config.worker_reconcile_after_secs = 30;
    config.extra_env.insert(
        "cryptocloud-sandbox".into(),
        BTreeMap::from([
            ("SANDBOX_POSTBACK_RETRIES".into(), "14".into()),
            ("SANDBOX_POSTBACK_BACKOFF_MS".into(), "200".into()),
        ]),
    );
    // A small attempt budget: outages must not spend it.
    config.extra_env.insert(
        "subscription-worker".into(),
        BTreeMap::from([("WORKER_MAX_ATTEMPTS".into(), "3".into())]),
    );
    // The merchant's endpoint: every payment.completed must reach it, whatever happens.
    let receiver = test_support::receiver::Receiver::start();
    config.webhook_endpoints = Some(
        json!([{"url": receiver.url(), "secret": stack::dev_credentials::WEBHOOK_SECRET,
                "events": ["payment.completed"]}])
        .to_string(),
    );
    let vhost = config.vhost.clone();
    let mut stack = Stack::start(config).await.expect("stack starts");
    let client = StackClient::new(&stack.checkout_url(), &stack.sandbox_url()).unwrap();
    let http = reqwest::Client::new();
    let sandbox = stack.sandbox_url();

    // The second worker: the same environment on another operations port.
    let mut env = stack.worker.env().clone();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    env.insert("WORKER_LISTEN".into(), format!("127.0.0.1:{port}"));
    let mut second = stack::process::ServiceProcess::new(
        "subscription-worker-2",
        bin_dir().join("subscription-worker"),
        env,
        stack::LogMode::Dir(logs),
    );
    second.start().unwrap();

    let invoices: Vec<String> = checkouts(&client, payments).await;

    let _restore_broker = RestoreBroker;
    let _restore_db = RestoreDatabase;
    let started = tokio::time::Instant::now();
    let step = schedule.pay_over / payments.max(1) as u32;
    let payer = {
        let client = client.clone();
        let plan: Vec<(String, (u32, u64, bool))> = invoices
            .iter()
            .cloned()
            .zip(schedule.postbacks.iter().copied())
            .collect();
        tokio::spawn(async move {
            stream::iter(plan.into_iter().enumerate())
                .for_each_concurrent(32, |(i, (inv, (times, delay_ms, concurrent)))| {
                    let client = client.clone();
                    async move {
                        tokio::time::sleep_until(started + step * i as u32).await;
                        let options =
                            json!({"times": times, "delay_ms": delay_ms, "concurrent": concurrent});
                        client.pay(&inv, options).await.expect("pay");
                    }
                })
                .await;
        })
    };

    for (at, fault) in &schedule.faults {
        tokio::time::sleep_until(started + *at).await;
        eprintln!("nemesis: {:>8.1?} {fault:?}", started.elapsed());
        match *fault {
            Fault::KillWorker(which, pause) => {
                let worker = if which == 0 {
                    &mut stack.worker
                } else {
                    &mut second
                };
                worker.kill().await.unwrap();
                tokio::time::sleep(pause).await;
                worker.start().unwrap();
            }
            Fault::KillDispatcher(pause) => {
                stack.dispatcher.kill().await.unwrap();
                tokio::time::sleep(pause).await;
                stack.dispatcher.start().unwrap();
            }
            Fault::KillIngest(pause) => {
                stack.ingest.kill().await.unwrap();
                tokio::time::sleep(pause).await;
                stack.ingest.start().unwrap();
            }
            Fault::BrokerDown(pause) => {
                sh("rabbitmqctl -q stop_app").await;
                tokio::time::sleep(pause).await;
                sh("rabbitmqctl -q start_app && rabbitmqctl -q await_startup").await;
            }
            Fault::DatabaseRestart => {
                sh("pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | sort -V | tail -1) main restart").await;
            }
            Fault::ApiErrors(pause) => {
                sandbox_faults(
                    &http,
                    &sandbox,
                    json!({"error_rate": 1.0, "error_status": 503}),
                )
                .await;
                tokio::time::sleep(pause).await;
                sandbox_faults(&http, &sandbox, json!({})).await;
            }
            Fault::ApiUnreachable(pause) => {
                sandbox_faults(&http, &sandbox, json!({"drop_rate": 1.0})).await;
                tokio::time::sleep(pause).await;
                sandbox_faults(&http, &sandbox, json!({})).await;
            }
        }
    }
    payer.await.expect("every invoice paid at the sandbox");
    eprintln!("nemesis: {:>8.1?} all paid, faults over", started.elapsed());

    let db_url = stack.database_url();
    let completed = "SELECT count(*) FROM payments WHERE status = 'completed'";
    wait_for_count(
        "every paid payment completed",
        &db_url,
        completed,
        payments as i64,
    )
    .await;
    eprintln!("nemesis: {:>8.1?} all completed", started.elapsed());
    let mut conn = PgConnection::connect(&db_url).await.unwrap();
    assert_one_month_each(&mut conn, payments, &format!("(seed {seed})")).await;
    // Two events per payment (payment.completed, subscription.upgraded), and the relay
    // leaves nothing behind.
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox_events")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        events,
        2 * payments as i64,
        "two events per payment (seed {seed})"
    );
    let unpublished = "SELECT count(*) FROM outbox_events WHERE published_at IS NULL";
    wait_for_count("the outbox drained", &db_url, unpublished, 0).await;
    assert_eq!(
        queue_messages(&vhost, "subscription-worker.dlq").await,
        0,
        "nothing dead-lettered (seed {seed})"
    );
    // Every payment reached the merchant's endpoint as payment.completed, at least once
    // and always under its one id (a lease cut short by a kill may repeat one).
    let distinct = || {
        receiver
            .received()
            .iter()
            .filter_map(|r| r.header("webhook-id").map(str::to_string))
            .collect::<std::collections::BTreeSet<String>>()
    };
    wait_until(
        "every payment.completed delivered",
        Duration::from_secs(120),
        || async { distinct().len() >= payments },
    )
    .await;
    let ids = distinct();
    assert_eq!(ids.len(), payments, "one id per payment (seed {seed})");
    assert!(
        ids.iter().all(|id| id.starts_with("payment.completed-")),
        "(seed {seed})"
    );
    eprintln!(
        "nemesis: {:>8.1?} every webhook delivered ({} requests for {} events)",
        started.elapsed(),
        receiver.received().len(),
        ids.len()
    );
    assert_eq!(
        queue_messages(&vhost, "event-dispatcher.dlq").await,
        0,
        "no event dead-lettered (seed {seed})"
    );

    // The ingest answered 200 or 503 (or was not there: killed), never anything else.
    let deliveries: Value = http
        .get(format!("{sandbox}/sandbox/deliveries"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut statuses: BTreeMap<u64, usize> = BTreeMap::new();
    for d in deliveries.as_array().unwrap() {
        *statuses
            .entry(d["status"].as_u64().unwrap_or(0))
            .or_default() += 1;
    }
    eprintln!("nemesis: ingest answers {statuses:?} (0: no answer)");
    assert!(
        statuses.keys().all(|s| [0, 200, 503].contains(s)),
        "ingest answers: {statuses:?} (seed {seed})"
    );

    second.stop(Duration::from_secs(10)).await.unwrap();
    stack.destroy().await.unwrap();
}
