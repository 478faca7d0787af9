//! The browser test's browser: Debian's headless Chromium through a local `chromedriver`,
//! driven with fantoccini. Only what starting and stopping them needs is written here.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::process::{Child, Command};

/// A headless Chromium session; dropping it kills chromedriver and removes the profile.
pub struct Browser {
    client: Client,
    _driver: Child,
    _profile: tempfile::TempDir,
}

/// How long a wait for an element or a URL lasts before it fails the test.
const WAIT: Duration = Duration::from_secs(15);

impl Browser {
    /// Starts chromedriver on a free port and opens a headless session.
    pub async fn start() -> anyhow::Result<Self> {
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .context("Chromium is not installed (apt-get install chromium chromium-driver)")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting chromedriver (apt-get install chromium-driver)")?;
        let profile = tempfile::Builder::new()
            .prefix("payments-chromium-")
            .tempdir()?;
        // Flags that keep Chromium off the (closed) network and quiet as root in a container.
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,1000",
        ]
        .map(String::from)
        .to_vec();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": chromium, "args": args}),
        );
        // chromedriver takes a moment to listen: retry the session until a deadline.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let client = loop {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => break client,
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e).context("no WebDriver session"),
            }
        };
        Ok(Self {
            client,
            _driver: driver,
            _profile: profile,
        })
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        Ok(self.client.goto(url).await?)
    }

    pub async fn url(&self) -> anyhow::Result<String> {
        Ok(self.client.current_url().await?.to_string())
    }

    /// Waits until the current URL satisfies `done` (a click's navigation may still be
    /// under way when the click returns).
    pub async fn wait_for_url(
        &self,
        timeout: Duration,
        done: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let url = self.url().await?;
            if done(&url) {
                return Ok(url);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "still at {url} after {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn source(&self) -> anyhow::Result<String> {
        Ok(self.client.source().await?)
    }

    /// Clicks the first element matching the XPath expression, once it is there.
    pub async fn click(&self, xpath: &str) -> anyhow::Result<()> {
        let element = self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::XPath(xpath))
            .await
            .with_context(|| format!("finding {xpath}"))?;
        Ok(element.click().await?)
    }

    /// Saves a PNG of the viewport.
    pub async fn screenshot(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, self.client.screenshot().await?)?;
        Ok(())
    }

    /// Waits until the page source satisfies `done` (reloading `reload` each time, if given).
    pub async fn wait_for(
        &self,
        reload: Option<&str>,
        timeout: Duration,
        done: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(url) = reload {
                self.goto(url).await?;
            }
            let source = self.source().await?;
            if done(&source) {
                return Ok(source);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "page never reached the expected state:\n{source}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Ends the session (Chromium quits); chromedriver goes with `self`.
    pub async fn quit(self) -> anyhow::Result<()> {
        Ok(self.client.close().await?)
    }
}
