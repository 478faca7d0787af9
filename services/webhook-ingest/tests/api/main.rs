//! Integration tests: the real service on a random port against the real RabbitMQ, each
//! test with its own uniquely named exchange and queues.

mod broker_outage;
mod helpers;
mod operations;
mod postback;
mod publish_failures;
mod rejections;
mod sources;
