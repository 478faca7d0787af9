use std::time::Duration;

use lapin::options::{
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

/// Names and shape of an exchange and one consumer's queues: a quorum work queue bound to
/// the exchange, one delay queue per back-off step (each dead-letters back into the work
/// queue after its wait) and a dead-letter queue. The caller names everything; the
/// messaging contract's own topology is `events::messaging::worker_topology`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// Topic exchange the work queue is bound to.
    pub exchange: String,
    /// The consumer's quorum queue.
    pub work_queue: String,
    /// Routing keys (patterns) the work queue is bound with.
    pub bindings: Vec<String>,
    /// Where messages end after their last attempt, or when undecodable.
    pub dead_letter_queue: String,
    /// Back-off steps: attempt n waits `retry_delays[min(n, len) - 1]` before redelivery.
    pub retry_delays: Vec<Duration>,
    /// Quorum queue redelivery cap: a message that keeps crashing its consumer is
    /// dead-lettered instead of looping forever.
    pub delivery_limit: u32,
    /// Tests only: unused queues disappear after this long, so a failed test leaves nothing.
    pub expires: Option<Duration>,
}

impl Topology {
    /// A work queue `work_queue` on `exchange`; its dead-letter queue is `{work_queue}.dlq`
    /// and its delay queues `{work_queue}.retry.{ms}ms`.
    pub fn new(
        exchange: &str,
        work_queue: &str,
        bindings: &[&str],
        retry_delays: Vec<Duration>,
        delivery_limit: u32,
    ) -> Self {
        Self {
            exchange: exchange.to_string(),
            work_queue: work_queue.to_string(),
            bindings: bindings.iter().map(|b| b.to_string()).collect(),
            dead_letter_queue: format!("{work_queue}.dlq"),
            retry_delays,
            delivery_limit,
            expires: None,
        }
    }

    /// The same shape under unique names for one test, removed by the broker shortly after
    /// its last use.
    pub fn isolated(&self, label: &str) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let bindings: Vec<&str> = self.bindings.iter().map(String::as_str).collect();
        let mut t = Self::new(
            &format!("test.{label}.{id}"),
            &format!("test.{label}.{id}.work"),
            &bindings,
            self.retry_delays.clone(),
            self.delivery_limit,
        );
        t.expires = Some(Duration::from_secs(120));
        t
    }

    /// Another consumer's queues on the same exchange (its own work queue, bindings, delay
    /// queues and DLQ). Beside an isolated test topology its names are made unique the same
    /// way and expire with it.
    pub fn beside(
        &self,
        work_queue: &str,
        bindings: &[&str],
        retry_delays: Vec<Duration>,
        delivery_limit: u32,
    ) -> Self {
        let name = match self.expires {
            Some(_) => format!("{}.{work_queue}", self.exchange),
            None => work_queue.to_string(),
        };
        let mut t = Self::new(
            &self.exchange,
            &name,
            bindings,
            retry_delays,
            delivery_limit,
        );
        t.expires = self.expires;
        t
    }

    /// Name of the delay queue used for retry `attempt` (1-based).
    pub fn delay_queue(&self, attempt: u32) -> String {
        let idx = (attempt.max(1) as usize - 1).min(self.retry_delays.len().saturating_sub(1));
        let delay = self
            .retry_delays
            .get(idx)
            .copied()
            .unwrap_or(Duration::from_secs(1));
        format!("{}.retry.{}ms", self.work_queue, delay.as_millis())
    }

    /// Declares everything idempotently. Every service declares the same arguments, so any
    /// of them may start first.
    pub async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        channel
            .exchange_declare(
                self.exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    auto_delete: self.expires.is_some(),
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;

        let mut dlq_args = self.base_args();
        dlq_args.insert("x-queue-type".into(), long_string("quorum"));
        self.declare_queue(channel, &self.dead_letter_queue, dlq_args)
            .await?;

        let mut work_args = self.base_args();
        work_args.insert("x-queue-type".into(), long_string("quorum"));
        work_args.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongLongInt(self.delivery_limit as i64),
        );
        // Rejected messages and those past the delivery limit go to the DLQ.
        work_args.insert("x-dead-letter-exchange".into(), long_string(""));
        work_args.insert(
            "x-dead-letter-routing-key".into(),
            long_string(&self.dead_letter_queue),
        );
        self.declare_queue(channel, &self.work_queue, work_args)
            .await?;
        for binding in &self.bindings {
            channel
                .queue_bind(
                    self.work_queue.as_str().into(),
                    self.exchange.as_str().into(),
                    binding.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }

        for attempt in 1..=self.retry_delays.len() as u32 {
            let delay = self.retry_delays[attempt as usize - 1];
            let mut args = self.base_args();
            // A delayed message expires after its wait and is dead-lettered back to work.
            args.insert(
                "x-message-ttl".into(),
                AMQPValue::LongLongInt(delay.as_millis() as i64),
            );
            args.insert("x-dead-letter-exchange".into(), long_string(""));
            args.insert(
                "x-dead-letter-routing-key".into(),
                long_string(&self.work_queue),
            );
            self.declare_queue(channel, &self.delay_queue(attempt), args)
                .await?;
        }
        Ok(())
    }

    /// Removes the queues and the exchange (tests clean up with this).
    pub async fn delete(&self, channel: &Channel) -> lapin::Result<()> {
        let mut queues = vec![self.work_queue.clone(), self.dead_letter_queue.clone()];
        queues.extend((1..=self.retry_delays.len() as u32).map(|a| self.delay_queue(a)));
        for q in queues {
            channel
                .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                .await?;
        }
        channel
            .exchange_delete(self.exchange.as_str().into(), Default::default())
            .await
    }

    fn base_args(&self) -> FieldTable {
        let mut args = FieldTable::default();
        if let Some(expires) = self.expires {
            args.insert(
                "x-expires".into(),
                AMQPValue::LongLongInt(expires.as_millis() as i64),
            );
        }
        args
    }

    async fn declare_queue(
        &self,
        channel: &Channel,
        name: &str,
        args: FieldTable,
    ) -> lapin::Result<()> {
        channel
            .queue_declare(
                name.into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                args,
            )
            .await
            .map(|_| ())
    }
}

fn long_string(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_queues_grow_and_clamp_at_the_last_step() {
        let t = Topology::new(
            "ex",
            "subscription-worker",
            &["a.#"],
            [1, 5, 30, 120, 600].map(Duration::from_secs).to_vec(),
            20,
        );
        assert_eq!(t.delay_queue(1), "subscription-worker.retry.1000ms");
        assert_eq!(t.delay_queue(2), "subscription-worker.retry.5000ms");
        assert_eq!(t.delay_queue(99), "subscription-worker.retry.600000ms");
        assert_eq!(t.dead_letter_queue, "subscription-worker.dlq");
    }
}
