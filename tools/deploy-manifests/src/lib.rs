//! Test-only crate. `tests/contract.rs` reads the deployment files (`Dockerfile`,
//! `docker-compose.yml`, `.env.example`, `deploy/`) and fails when a port, probe path,
//! environment variable name, listen address or binary name drifts from the contract in
//! `docs/architecture.md`.
