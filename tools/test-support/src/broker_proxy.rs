//! A TCP proxy in front of the shared RabbitMQ, so a test can take "the broker" away
//! from one service (and give it back) without touching the real one.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The machine's RabbitMQ, which the proxy forwards to.
pub const BROKER_ADDR: &str = "127.0.0.1:5672";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forwards both ways.
    Open,
    /// Drops every connection, open or new: the broker is gone.
    Down,
    /// Keeps connections open but holds back everything the broker sends (confirms
    /// included): a broker that no longer answers.
    Stalled,
}

pub struct BrokerProxy {
    addr: SocketAddr,
    mode: Arc<watch::Sender<Mode>>,
    accept_loop: tokio::task::JoinHandle<()>,
}

impl BrokerProxy {
    /// Starts a proxy on a free port in `mode`.
    pub async fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(watch::Sender::new(mode));
        let sender = mode.clone();
        let accept_loop = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *sender.borrow() == Mode::Down {
                    drop(client);
                    continue;
                }
                tokio::spawn(forward(client, sender.subscribe()));
            }
        });
        BrokerProxy {
            addr,
            mode,
            accept_loop,
        }
    }

    /// An AMQP URL to the shared broker through this proxy.
    pub fn amqp_url(&self) -> platform::config::AmqpUrl {
        platform::config::AmqpUrl::parse(&format!("amqp://guest:guest@{}/%2f", self.addr)).unwrap()
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for BrokerProxy {
    fn drop(&mut self) {
        self.set(Mode::Down);
        self.accept_loop.abort();
    }
}

async fn forward(mut client: TcpStream, mut mode: watch::Receiver<Mode>) {
    let Ok(mut upstream) = TcpStream::connect(BROKER_ADDR).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.split();
    let (mut upstream_read, mut upstream_write) = upstream.split();
    let mut to_broker = vec![0u8; 16 * 1024];
    let mut to_client = vec![0u8; 16 * 1024];
    loop {
        let current = *mode.borrow_and_update();
        if current == Mode::Down {
            return;
        }
        let stalled = current == Mode::Stalled;
        // Reads are cancel-safe, so losing a race to a mode change loses no bytes.
        tokio::select! {
            changed = mode.changed() => if changed.is_err() { return },
            read = client_read.read(&mut to_broker) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => if upstream_write.write_all(&to_broker[..n]).await.is_err() { return },
            },
            read = upstream_read.read(&mut to_client), if !stalled => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => if client_write.write_all(&to_client[..n]).await.is_err() { return },
            },
        }
    }
}
