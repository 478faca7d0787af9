//! Integration tests against the real PostgreSQL and RabbitMQ, with real HTTP receivers.
//! Each test has its own database and its own RabbitMQ topology.

mod admin;
mod delivery;
mod helpers;
mod openapi;
mod ssrf;
