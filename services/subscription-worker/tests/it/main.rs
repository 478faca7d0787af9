//! Integration tests against the real PostgreSQL and RabbitMQ and an in-process
//! CryptoCloud sandbox. Each test has its own database and its own RabbitMQ topology.

mod broker_restart;
mod commands;
mod exactly_once;
mod flow;
mod group_commit;
mod helpers;
mod outbox;
mod renewals;
mod retries;
mod sweeps;
