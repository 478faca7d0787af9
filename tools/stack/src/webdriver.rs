//! The few WebDriver calls the browser test needs, against a local `chromedriver` driving
//! Debian's headless Chromium.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

pub struct Browser {
    http: reqwest::Client,
    session: String,
    base: String,
    _driver: Child,
    _profile: tempdir::TempDir,
}

pub mod tempdir {
    /// A directory removed on drop.
    pub struct TempDir(pub std::path::PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

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
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        let base = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let ready = match http.get(format!("{base}/status")).send().await {
                Ok(r) => r
                    .json::<Value>()
                    .await
                    .ok()
                    .and_then(|v| v["value"]["ready"].as_bool())
                    .unwrap_or(false),
                Err(_) => false,
            };
            if ready {
                break;
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = std::env::temp_dir().join(format!(
            "payments-chromium-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&profile)?;
        // Flags that keep Chromium off the (closed) network and quiet as root in a container.
        let args = [
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
        ];
        let mut all_args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all_args.push(format!("--user-data-dir={}", profile.display()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": all_args}
        }}});
        let res: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await?
            .json()
            .await?;
        let session = res["value"]["sessionId"]
            .as_str()
            .with_context(|| format!("no session: {res}"))?
            .to_string();
        Ok(Self {
            http,
            session,
            base,
            _driver: driver,
            _profile: tempdir::TempDir(profile),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}/session/{}{}", self.base, self.session, path);
        let mut req = self.http.request(method, url);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res: Value = req.send().await?.json().await?;
        if let Some(err) = res["value"]["error"].as_str() {
            anyhow::bail!("webdriver {path}: {err}: {}", res["value"]["message"]);
        }
        Ok(res["value"].clone())
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await
            .map(|_| ())
    }

    pub async fn url(&self) -> anyhow::Result<String> {
        Ok(self
            .call(reqwest::Method::GET, "/url", None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// Polls the current URL until `done` holds (a click's navigation may still be under way
    /// when the click returns).
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
        Ok(self
            .call(reqwest::Method::GET, "/source", None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// Clicks the first element matching the XPath expression.
    pub async fn click(&self, xpath: &str) -> anyhow::Result<()> {
        let el = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "xpath", "value": xpath})),
            )
            .await
            .with_context(|| format!("finding {xpath}"))?;
        let id = el
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .context("element id")?
            .to_string();
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await
        .map(|_| ())
    }

    /// Saves a PNG of the viewport.
    pub async fn screenshot(&self, path: &Path) -> anyhow::Result<()> {
        use base64::Engine;
        let b64 = self.call(reqwest::Method::GET, "/screenshot", None).await?;
        let png =
            base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap_or_default())?;
        std::fs::write(path, png)?;
        Ok(())
    }

    /// Polls until the page source satisfies `done` (reloading `reload` each time, if given).
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

    pub async fn quit(self) -> anyhow::Result<()> {
        self.http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await?;
        Ok(())
    }
}
