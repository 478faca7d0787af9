//! HTTP load: a lean hyper client, one keep-alive connection per concurrent slot, in two
//! shapes. Closed loop: N slots each send the next request as soon as the last answered
//! (throughput at concurrency N). Open loop: requests are due at a fixed rate and latency
//! is counted from when each was due, so a stalled server cannot hide its queueing
//! (no coordinated omission).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::stats::{Latencies, RunStats};

/// Builds request number `i` (each must be distinct where the scenario needs it).
pub type MakeRequest = Arc<dyn Fn(u64) -> Request<Full<Bytes>> + Send + Sync>;

/// When a closed-loop run stops taking new requests.
#[derive(Debug, Clone, Copy)]
pub enum Until {
    Elapsed(Duration),
    /// After exactly this many requests.
    Count(u64),
}

/// Per-slot results, merged at the end.
#[derive(Default)]
struct Tally {
    attempted: u64,
    ok: u64,
    errors: BTreeMap<String, u64>,
    latencies: Latencies,
}

impl Tally {
    fn error(&mut self, what: String) {
        *self.errors.entry(what).or_default() += 1;
    }

    fn merge(tallies: Vec<Tally>, elapsed: Duration) -> RunStats {
        let mut ok = 0;
        let mut attempted = 0;
        let mut errors = BTreeMap::new();
        let mut latencies = Latencies::default();
        for t in tallies {
            ok += t.ok;
            attempted += t.attempted;
            for (k, v) in t.errors {
                *errors.entry(k).or_default() += v;
            }
            latencies.merge(&t.latencies);
        }
        let answered = ok + errors.values().sum::<u64>();
        if attempted != answered {
            *errors
                .entry("lost by the load generator".into())
                .or_default() += attempted - answered;
        }
        RunStats::new(ok, errors, elapsed, &latencies)
    }
}

/// One keep-alive HTTP/1.1 connection, re-opened after a failure.
struct Connection {
    addr: SocketAddr,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Connection {
    fn new(addr: SocketAddr) -> Self {
        Self { addr, sender: None }
    }

    async fn open(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// Sends one request and reads the whole answer; the status, or what went wrong.
    async fn send(&mut self, request: Request<Full<Bytes>>) -> Result<StatusCode, String> {
        if self.sender.is_none() {
            match Self::open(self.addr).await {
                Ok(s) => self.sender = Some(s),
                Err(e) => {
                    // Do not spin on a refused connection.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    return Err(format!("connect: {e}"));
                }
            }
        }
        let sender = self.sender.as_mut().expect("opened above");
        let result = async {
            sender.ready().await?;
            let response = sender.send_request(request).await?;
            let status = response.status();
            response.into_body().collect().await?;
            Ok::<_, hyper::Error>(status)
        }
        .await;
        result.map_err(|e| {
            self.sender = None;
            format!("http: {e}")
        })
    }
}

/// Closed loop at `concurrency` until `until`; requests started before the end finish and
/// count.
pub async fn closed_loop(
    addr: SocketAddr,
    concurrency: usize,
    until: Until,
    expect: StatusCode,
    make: MakeRequest,
) -> RunStats {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let slots: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let next = next.clone();
            let make = make.clone();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut conn = Connection::new(addr);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let more = match until {
                        Until::Elapsed(d) => started.elapsed() < d,
                        Until::Count(n) => i < n,
                    };
                    if !more {
                        break;
                    }
                    tally.attempted += 1;
                    let request = make(i);
                    let sent = Instant::now();
                    match conn.send(request).await {
                        Ok(status) if status == expect => {
                            tally.ok += 1;
                            tally.latencies.record(sent.elapsed());
                        }
                        Ok(status) => tally.error(format!("status {}", status.as_u16())),
                        Err(e) => tally.error(e),
                    }
                }
                tally
            })
        })
        .collect();
    let tallies = futures::future::join_all(slots)
        .await
        .into_iter()
        .map(|slot| slot.expect("a load slot does not panic"))
        .collect();
    Tally::merge(tallies, started.elapsed())
}

/// Open loop: `rate` requests per second for `duration`, over `connections` connections.
pub async fn fixed_rate(
    addr: SocketAddr,
    connections: usize,
    rate: f64,
    duration: Duration,
    expect: StatusCode,
    make: MakeRequest,
) -> RunStats {
    let total = (rate * duration.as_secs_f64()).round().max(1.0) as u64;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
    let rx = Arc::new(Mutex::new(rx));
    let started = Instant::now();
    let dispatcher = tokio::spawn(async move {
        for i in 0..total {
            let due = started + Duration::from_secs_f64(i as f64 / rate);
            if due > Instant::now() {
                tokio::time::sleep_until(due).await;
            }
            if tx.send((i, due)).is_err() {
                break;
            }
        }
    });
    let slots: Vec<_> = (0..connections.max(1))
        .map(|_| {
            let rx = rx.clone();
            let make = make.clone();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut conn = Connection::new(addr);
                loop {
                    let slot = rx.lock().await.recv().await;
                    let Some((i, due)) = slot else { break };
                    tally.attempted += 1;
                    match conn.send(make(i)).await {
                        Ok(status) if status == expect => {
                            tally.ok += 1;
                            tally.latencies.record(due.elapsed());
                        }
                        Ok(status) => tally.error(format!("status {}", status.as_u16())),
                        Err(e) => tally.error(e),
                    }
                }
                tally
            })
        })
        .collect();
    let _ = dispatcher.await;
    let tallies = futures::future::join_all(slots)
        .await
        .into_iter()
        .map(|slot| slot.expect("a load slot does not panic"))
        .collect();
    Tally::merge(tallies, started.elapsed())
}

/// `POST path` with a body, the `Host` header, a content type and extra headers.
pub fn post(
    addr: SocketAddr,
    path: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Request<Full<Bytes>> {
    let mut builder = Request::post(path)
        .header(hyper::header::HOST, addr.to_string())
        .header(hyper::header::CONTENT_TYPE, content_type);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Full::new(body.into()))
        .expect("a valid request")
}
