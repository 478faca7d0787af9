//! `sqlx::migrate!` embeds `migrations/` at compile time, but cargo does not know that it
//! reads the folder: without this, a new migration is missing from a binary built on a warm
//! cache (as a benchmark build once was, failing every checkout on a column it lacked).

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
