#!/usr/bin/env bash
# Checks, before anything is built, what the run and test commands need on the machine,
# and says how to get what is missing. Sourced by run.sh and test.sh.
missing=0
need() { # need <command> <why> <how to get it>
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "!! $1 not found ($2). Get it with: $3" >&2
    missing=1
  fi
}
need cargo "Rust, through rustup (rust-toolchain.toml picks the version)" \
  "curl https://sh.rustup.rs -sSf | sh   (then open a new shell)"
need cc "a C compiler: the ring crate builds C" "sudo apt-get install -y build-essential"
need pkg-config "finds system libraries for -sys crates" "sudo apt-get install -y pkg-config"
if [ "$missing" -ne 0 ]; then
  echo "!! install the above, then run this command again" >&2
  exit 1
fi
