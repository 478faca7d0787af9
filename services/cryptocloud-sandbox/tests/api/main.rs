//! Integration tests of the sandbox, started in-process on port 0.

mod api_faults;
mod binary;
mod contract;
mod helpers;
mod lifecycle;
mod page;
mod postbacks;
mod schema;
