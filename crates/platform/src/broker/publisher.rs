use std::time::Duration;

use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Confirmation};

use super::Broker;

/// Why a publish was not confirmed. Every variant means "not safely stored": the caller
/// must not report success.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("not connected to the broker")]
    NotConnected,
    #[error("the broker did not confirm within {0:?}")]
    Timeout(Duration),
    #[error("the broker refused the message (nack)")]
    Nacked,
    #[error("the message was unroutable: {0}")]
    Returned(String),
    #[error("broker error: {0}")]
    Broker(#[from] lapin::Error),
}

impl Broker {
    /// Publishes one persistent, mandatory message and waits for the broker's confirm.
    /// Concurrent calls share the channel; confirms are matched per message by lapin.
    #[tracing::instrument(name = "publish", skip(self, payload, properties), fields(bytes = payload.len()))]
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        payload: &[u8],
        properties: BasicProperties,
        timeout: Duration,
    ) -> Result<(), PublishError> {
        let link = self.link().ok_or(PublishError::NotConnected)?;
        let properties = properties.with_delivery_mode(2);
        let confirmed = async {
            link.publisher
                .basic_publish(
                    exchange.into(),
                    routing_key.into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    payload,
                    properties,
                )
                .await?
                .await
        };
        match tokio::time::timeout(timeout, confirmed).await {
            Err(_) => Err(PublishError::Timeout(timeout)),
            Ok(Err(err)) => {
                if !link.is_open() {
                    self.request_reconnect();
                }
                Err(PublishError::Broker(err))
            }
            Ok(Ok(Confirmation::Ack(None))) => Ok(()),
            Ok(Ok(Confirmation::Ack(Some(returned)))) => {
                Err(PublishError::Returned(returned.reply_text.to_string()))
            }
            Ok(Ok(Confirmation::Nack(_))) => Err(PublishError::Nacked),
            // The channel is in confirm mode: this would be a programming error.
            Ok(Ok(Confirmation::NotRequested)) => Err(PublishError::Nacked),
        }
    }
}
