use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lapin::options::ConfirmSelectOptions;
use lapin::{Channel, Connection, ConnectionProperties};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use super::Topology;
use crate::config::AmqpUrl;

/// A live connection and its confirm-mode publishing channel. Replaced as a whole after
/// every reconnect; consumers watch [`Broker::links`] to re-create themselves on it.
#[derive(Clone)]
pub struct Link {
    pub connection: Arc<Connection>,
    pub publisher: Channel,
    /// Increases by one with every new connection.
    pub generation: u64,
}

impl Link {
    pub fn is_open(&self) -> bool {
        self.connection.status().connected() && self.publisher.status().connected()
    }
}

/// Handle on the supervised broker connection. Cheap to clone.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    link: watch::Sender<Option<Link>>,
    reconnect: Notify,
    /// Generation a reconnect was asked for: a request made against an old connection must
    /// not drop the fresh one.
    reconnect_generation: AtomicU64,
    topology: Topology,
    /// Declared on every connect as well: other consumers' queues this service publishes to.
    also: Vec<Topology>,
}

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl Broker {
    /// Starts the supervisor. It returns at once: the service runs (not ready) while the
    /// broker is unreachable and connects as soon as it can.
    pub fn start(url: AmqpUrl, topology: Topology, shutdown: CancellationToken) -> Self {
        Self::start_declaring(url, topology, Vec::new(), shutdown)
    }

    /// The same, declaring `also` on every connect besides its own topology, so what this
    /// service publishes always has a queue to land in, whichever service starts first.
    pub fn start_declaring(
        url: AmqpUrl,
        topology: Topology,
        also: Vec<Topology>,
        shutdown: CancellationToken,
    ) -> Self {
        let (link, _) = watch::channel(None);
        let inner = Arc::new(Inner {
            link,
            reconnect: Notify::new(),
            reconnect_generation: AtomicU64::new(0),
            topology,
            also,
        });
        tokio::spawn(supervise(inner.clone(), url, shutdown));
        Self { inner }
    }

    pub fn topology(&self) -> &Topology {
        &self.inner.topology
    }

    /// The current link, if connected.
    pub fn link(&self) -> Option<Link> {
        self.inner.link.borrow().clone().filter(Link::is_open)
    }

    pub fn is_ready(&self) -> bool {
        self.link().is_some()
    }

    /// Every change of link (connected, lost, reconnected).
    pub fn links(&self) -> watch::Receiver<Option<Link>> {
        self.inner.link.subscribe()
    }

    /// The current open link from `links` (see [`Broker::links`]), waiting for one if there
    /// is none; `None` once the broker is gone. Consumers re-create themselves on each.
    pub async fn next_link(links: &mut watch::Receiver<Option<Link>>) -> Option<Link> {
        loop {
            if let Some(link) = links.borrow_and_update().clone().filter(Link::is_open) {
                return Some(link);
            }
            links.changed().await.ok()?;
        }
    }

    /// Messages ready in `queue` now (a passive declare on a channel of its own).
    pub async fn queue_len(&self, queue: &str) -> anyhow::Result<u32> {
        let link = self
            .link()
            .ok_or_else(|| anyhow::anyhow!("not connected to RabbitMQ"))?;
        let channel = link.connection.create_channel().await?;
        let declared = channel
            .queue_declare(
                queue.into(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                lapin::types::FieldTable::default(),
            )
            .await;
        let _ = channel.close(200, "counted".into()).await;
        Ok(declared?.message_count())
    }

    /// Waits until connected, at most `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let mut rx = self.links();
        tokio::time::timeout(timeout, async {
            loop {
                if rx.borrow_and_update().as_ref().is_some_and(Link::is_open) {
                    return;
                }
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        })
        .await
        .is_ok()
    }

    /// Asks the supervisor to drop the current connection and make a new one (after a
    /// channel-level error, which closes the channel but not the connection).
    pub fn request_reconnect(&self) {
        let Some(generation) = self.inner.link.borrow().as_ref().map(|l| l.generation) else {
            return; // already reconnecting
        };
        self.inner
            .reconnect_generation
            .store(generation, Ordering::SeqCst);
        self.inner.reconnect.notify_one();
    }
}

async fn supervise(inner: Arc<Inner>, url: AmqpUrl, shutdown: CancellationToken) {
    let mut backoff = MIN_BACKOFF;
    let mut generation = 0;
    while !shutdown.is_cancelled() {
        match connect(&url, &inner.topology, &inner.also).await {
            Ok((connection, publisher)) => {
                generation += 1;
                backoff = MIN_BACKOFF;
                tracing::info!(generation, "connected to RabbitMQ");
                // Connection-level errors end this link; a channel closed with a soft error
                // (e.g. a failed passive declare) leaves the connection usable.
                let (lost_tx, mut lost_rx) = tokio::sync::mpsc::unbounded_channel();
                let mut events = connection.events_listener();
                tokio::spawn(async move {
                    while let Some(event) = events.next().await {
                        if let lapin::Event::Error(err) = event {
                            if !err.is_amqp_soft_error() && lost_tx.send(err).is_err() {
                                break;
                            }
                        }
                    }
                });
                let connection = Arc::new(connection);
                inner.link.send_replace(Some(Link {
                    connection: connection.clone(),
                    publisher: publisher.clone(),
                    generation,
                }));
                // Status polling backs up the error callback, which a clean server-side
                // close does not always trigger.
                let mut poll = tokio::time::interval(Duration::from_millis(250));
                loop {
                    tokio::select! {
                        err = lost_rx.recv() => {
                            tracing::warn!(error = ?err, "RabbitMQ connection lost");
                            break;
                        }
                        _ = inner.reconnect.notified() => {
                            if inner.reconnect_generation.load(Ordering::SeqCst) == generation {
                                tracing::warn!("reconnect requested");
                                break;
                            }
                        }
                        _ = poll.tick() => {
                            if !(connection.status().connected() && publisher.status().connected()) {
                                tracing::warn!("RabbitMQ connection or channel closed");
                                break;
                            }
                        }
                        _ = shutdown.cancelled() => break,
                    }
                }
                inner.link.send_replace(None);
                let _ = tokio::time::timeout(
                    Duration::from_secs(2),
                    connection.close(200, "bye".into()),
                )
                .await;
            }
            Err(err) => {
                tracing::warn!(error = %err, retry_in_ms = backoff.as_millis() as u64, "cannot reach RabbitMQ");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.cancelled() => break,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    inner.link.send_replace(None);
}

async fn connect(
    url: &AmqpUrl,
    topology: &Topology,
    also: &[Topology],
) -> lapin::Result<(Connection, Channel)> {
    // lapin's own recovery stays off: this supervisor owns reconnecting (see docs/operations.md).
    let properties = ConnectionProperties::default();
    let connection = tokio::time::timeout(
        Duration::from_secs(5),
        Connection::connect(url.expose(), properties),
    )
    .await
    .map_err(|_| {
        lapin::Error::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connect timed out",
        ))
    })??;
    let channel = connection.create_channel().await?;
    topology.declare(&channel).await?;
    for other in also {
        other.declare(&channel).await?;
    }
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok((connection, channel))
}
