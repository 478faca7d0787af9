//! One service process: started with its environment, its output prefixed with its name,
//! stopped with SIGTERM (or killed with SIGKILL in chaos tests) and started again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// Where service output goes.
#[derive(Debug, Clone)]
pub enum LogMode {
    /// Streamed to stdout, each line prefixed with the service name.
    Prefixed,
    /// One file per service in this directory (tests keep them as artifacts).
    Dir(PathBuf),
    Quiet,
}

pub struct ServiceProcess {
    pub name: String,
    binary: PathBuf,
    env: BTreeMap<String, String>,
    args: Vec<String>,
    log: LogMode,
    child: Option<Child>,
}

impl ServiceProcess {
    pub fn new(name: &str, binary: PathBuf, env: BTreeMap<String, String>, log: LogMode) -> Self {
        Self {
            name: name.to_string(),
            binary,
            env,
            args: Vec::new(),
            log,
            child: None,
        }
    }

    pub fn env(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    pub fn start(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "{} is already running", self.name);
        let mut cmd = Command::new(&self.binary);
        cmd.args(&self.args)
            .env_clear()
            .envs(
                std::env::vars()
                    .filter(|(k, _)| k == "PATH" || k == "HOME" || k == "RUST_BACKTRACE"),
            )
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {} ({})", self.name, self.binary.display()))?;
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        tokio::spawn(forward(self.name.clone(), stdout, self.log.clone()));
        tokio::spawn(forward(self.name.clone(), stderr, self.log.clone()));
        self.child = Some(child);
        Ok(())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// SIGKILL: no chance to finish in-flight work (chaos tests).
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.start_kill()?;
            child.wait().await?;
        }
        Ok(())
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub async fn stop(&mut self, grace: Duration) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
            }
            if tokio::time::timeout(grace, child.wait()).await.is_err() {
                child.start_kill()?;
                child.wait().await?;
            }
        }
        Ok(())
    }

    /// True while the process runs; reaps it if it has exited.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(_) => {
                self.child = None;
                false
            }
            None => false,
        }
    }
}

async fn forward<R: tokio::io::AsyncRead + Unpin>(name: String, reader: R, log: LogMode) {
    let mut lines = BufReader::new(reader).lines();
    let mut file = match &log {
        LogMode::Dir(dir) => tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path(dir, &name))
            .await
            .ok(),
        _ => None,
    };
    while let Ok(Some(line)) = lines.next_line().await {
        match &log {
            LogMode::Prefixed => println!("{name:>20} | {line}"),
            LogMode::Dir(_) => {
                if let Some(f) = file.as_mut() {
                    let _ = f.write_all(format!("{line}\n").as_bytes()).await;
                }
            }
            LogMode::Quiet => {}
        }
    }
}

pub fn log_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.log"))
}
