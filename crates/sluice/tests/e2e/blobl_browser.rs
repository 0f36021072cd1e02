//! The playground page of `sluice blobl server` in a real browser: headless
//! Chromium driven over WebDriver (chromedriver), typing as a user does.

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::blobl_server::Playground;
use crate::support::{client, free_port};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Fails, rather than skips, when the browser is missing: a skipped test
/// would hide that the page is no longer checked.
fn require(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: run scripts/install-deps.sh (it installs the Debian package {package})"
    );
}

/// A chromedriver process and the browsers it starts; all killed on drop.
struct ChromeDriver {
    child: Child,
    url: String,
    profile: tempfile::TempDir,
    log: std::path::PathBuf,
}

impl ChromeDriver {
    async fn start() -> ChromeDriver {
        require(CHROMIUM, "chromium");
        require(CHROMEDRIVER, "chromium-driver");
        let profile = tempfile::tempdir().expect("profile dir");
        let log = profile.path().join("chromedriver.log");
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that drop also ends the browser
            // processes chromedriver starts.
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let driver = ChromeDriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profile,
            log,
        };
        driver.wait_ready().await;
        driver
    }

    /// Waits until chromedriver answers `GET /status` with `ready: true`.
    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(res) = client().get(format!("{}/status", self.url)).send().await
                && let Ok(text) = res.text().await
                && let Ok(status) = serde_json::from_str::<Value>(&text)
                && status["value"]["ready"] == true
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready; its log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A new headless Chromium session with a fresh profile.
    async fn browser(&self) -> Client {
        let profile = self.profile.path().join("chromium");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            // Without these, Chromium's background connections fail on a
            // closed network and the page's own requests are refused.
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        });
        let caps = caps.as_object().expect("an object").clone();
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
        {
            Ok(browser) => browser,
            Err(err) => panic!(
                "failed to start headless chromium: {err}; chromedriver log:\n{}",
                self.log()
            ),
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // chromedriver leads its own process group (process_group(0) above),
        // which holds the browsers it started: end them all.
        let group = rustix::process::Pid::from_child(&self.child);
        // Failing means the group is already gone.
        rustix::process::kill_process_group(group, rustix::process::Signal::KILL).ok();
        drop(self.child.wait());
    }
}

/// The text content of the element with this id.
async fn text_of(browser: &Client, id: &str) -> String {
    let script = "return document.getElementById(arguments[0]).textContent;";
    match browser.execute(script, vec![json!(id)]).await {
        Ok(Value::String(text)) => text,
        other => panic!("reading #{id}: {other:?}"),
    }
}

/// Polls until the element with this id holds text accepted by `want`.
async fn wait_for_text(browser: &Client, id: &str, what: &str, want: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = text_of(browser, id).await;
        if want(&text) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "#{id} never showed {what}; it shows {text:?} (error area: {:?})",
            text_of(browser, "error").await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Replaces the text of a textarea by typing, as a user would.
async fn type_into(browser: &Client, id: &str, text: &str) {
    let field = browser
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("finding #{id}: {e}"));
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

#[tokio::test]
async fn the_page_runs_mappings_as_you_type() {
    let playground = Playground::start(&[]);
    let driver = ChromeDriver::start().await;
    let browser = driver.browser().await;
    browser.goto(&playground.url("/")).await.expect("open page");

    // The page runs its initial mapping (`root = this`) on load.
    wait_for_text(&browser, "output", "the default input", |t| {
        t == "{\n  \"message\": \"hello world\"\n}"
    })
    .await;

    type_into(&browser, "mapping", "root.upper = this.name.uppercase()").await;
    type_into(&browser, "input", r#"{"name":"ada"}"#).await;
    wait_for_text(&browser, "output", "the mapped document", |t| {
        t == "{\n  \"upper\": \"ADA\"\n}"
    })
    .await;
    assert_eq!(text_of(&browser, "error").await, "");

    // Metadata in and out.
    type_into(&browser, "input-metadata", r#"{"topic":"orders"}"#).await;
    type_into(
        &browser,
        "mapping",
        "root.upper = this.name.uppercase()\nmeta seen = @topic.uppercase()",
    )
    .await;
    wait_for_text(&browser, "output-metadata", "the output metadata", |t| {
        t == "{\n  \"seen\": \"ORDERS\",\n  \"topic\": \"orders\"\n}"
    })
    .await;

    // A mapping that does not parse shows where it breaks, and clicking the
    // error puts the cursor there.
    type_into(&browser, "mapping", "root.a = 1\nroot = this.").await;
    wait_for_text(&browser, "error", "the parse error", |t| {
        t.starts_with("failed to parse mapping: line 2 char 13: ")
    })
    .await;
    browser
        .find(Locator::Id("error"))
        .await
        .expect("the error area")
        .click()
        .await
        .expect("click the error");
    let cursor = browser
        .execute(
            "var m = document.getElementById('mapping'); \
             return [document.activeElement === m, m.selectionStart];",
            vec![],
        )
        .await
        .expect("read the cursor");
    assert_eq!(cursor, json!([true, "root.a = 1\nroot = this.".len()]));

    // One that fails on this input says why.
    type_into(&browser, "mapping", "root = this.name.number()").await;
    wait_for_text(&browser, "error", "the execution error", |t| {
        t.starts_with("failed to execute mapping: ")
    })
    .await;

    // Fixing it clears the error and shows the new output.
    type_into(&browser, "mapping", "root = this.name.length()").await;
    wait_for_text(&browser, "output", "the fixed output", |t| t == "3").await;
    assert_eq!(text_of(&browser, "error").await, "");

    browser.close().await.expect("close the browser");
}
