//! `sluice blobl server`: the playground's page and its `/execute` endpoint,
//! over real HTTP against the real binary.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{bin, client, run_cli};

/// A running `sluice blobl server`; killed on drop.
pub(crate) struct Playground {
    child: Child,
    /// `http://host:port`, as the server logged it.
    pub(crate) base: String,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Playground {
    /// Starts the server on an ephemeral port with `extra` arguments and
    /// waits until it logs its address.
    pub(crate) fn start(extra: &[&str]) -> Playground {
        let mut child = Command::new(bin())
            .args(["blobl", "server", "--port", "0", "--no-open"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sluice blobl server");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (base_tx, base_rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr piped");
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("Starting Bloblang playground at ").nth(1) {
                    drop(base_tx.send(rest.trim().to_owned()));
                }
                sink.lock().unwrap().push(line);
            }
        });
        match base_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(base) => Playground { child, base, logs },
            Err(_) => {
                drop(child.kill());
                panic!(
                    "the playground did not start; logs:\n{}",
                    logs.lock().unwrap().join("\n")
                );
            }
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    fn terminate(&mut self) -> std::process::ExitStatus {
        rustix::process::kill_process(
            rustix::process::Pid::from_child(&self.child),
            rustix::process::Signal::TERM,
        )
        .expect("signal the playground");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the playground ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Everything logged so far.
    pub(crate) fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Waits until a log line contains `needle`.
    fn wait_for_log(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.logs().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// POSTs `body` to `/execute`; returns the status and the JSON answer.
    async fn execute(&self, body: &Value) -> (u16, Value) {
        let res = client()
            .post(self.url("/execute"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("POST /execute");
        let status = res.status().as_u16();
        let text = res.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        (status, json)
    }
}

impl Drop for Playground {
    fn drop(&mut self) {
        drop(self.child.kill());
        drop(self.child.wait());
    }
}

#[test]
fn logs_its_address_and_warns_it_is_for_local_use() {
    let playground = Playground::start(&[]);
    assert!(
        playground.base.starts_with("http://127.0.0.1:"),
        "{}",
        playground.base
    );
    assert!(
        playground.wait_for_log("never expose it to a network"),
        "{}",
        playground.logs()
    );
}

#[test]
fn exits_cleanly_on_sigterm() {
    let mut playground = Playground::start(&[]);
    assert!(playground.terminate().success());
}

#[tokio::test]
async fn executes_a_mapping() {
    let playground = Playground::start(&[]);
    let (status, res) = playground
        .execute(&json!({
            "mapping": "root.upper = this.name.uppercase()\nroot.n = this.n + 1",
            "input": r#"{"name":"ada","n":41}"#,
        }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        res,
        json!({
            "result": "{\n  \"n\": 42,\n  \"upper\": \"ADA\"\n}",
            "deleted": false,
            "metadata": {},
            "parse_error": null,
            "mapping_error": null,
        })
    );

    // Strings come out raw, as `sluice blobl` prints them.
    let (_, res) = playground
        .execute(&json!({"mapping": "root = this.name", "input": r#"{"name":"ada"}"#}))
        .await;
    assert_eq!(res["result"], "ada");

    let (_, res) = playground
        .execute(&json!({"mapping": "root = deleted()", "input": "{}"}))
        .await;
    assert_eq!(
        (&res["result"], &res["deleted"]),
        (&json!(""), &json!(true))
    );
}

#[tokio::test]
async fn reports_parse_errors_with_their_position() {
    let playground = Playground::start(&[]);
    let (status, res) = playground
        .execute(&json!({"mapping": "root = this.", "input": "{}"}))
        .await;
    assert_eq!(status, 200);
    let err = res["parse_error"].as_str().expect("a parse error");
    assert!(
        err.starts_with("failed to parse mapping: line 1 char 13: "),
        "{err}"
    );
    assert_eq!(res["result"], Value::Null);
    assert_eq!(res["mapping_error"], Value::Null);

    // The same text as `sluice blobl` prints for the same mapping.
    let (_, _, stderr) = run_cli(&["blobl", "root = this."], "{}\n");
    assert_eq!(stderr.trim_end(), err);
}

#[tokio::test]
async fn reports_execution_errors() {
    let playground = Playground::start(&[]);
    let (status, res) = playground
        .execute(&json!({"mapping": "root = this.a.uppercase()", "input": r#"{"a":5}"#}))
        .await;
    assert_eq!(status, 200);
    let err = res["mapping_error"].as_str().expect("an execution error");
    assert!(err.contains("expected string value, got number"), "{err}");
    assert_eq!(res["result"], Value::Null);

    let (_, res) = playground
        .execute(&json!({"mapping": "root = this.a", "input": "not json"}))
        .await;
    let err = res["mapping_error"].as_str().expect("an execution error");
    assert!(
        err.contains("unable to reference message as structured"),
        "{err}"
    );
}

#[tokio::test]
async fn metadata_goes_in_and_comes_out() {
    let playground = Playground::start(&[]);
    let (_, res) = playground
        .execute(&json!({
            "mapping": "root.topic = @topic\nmeta attempt = @attempt + 1\nmeta added = \"yes\"",
            "input": "{}",
            "metadata": {"topic": "orders", "attempt": 2},
        }))
        .await;
    assert_eq!(res["result"], "{\n  \"topic\": \"orders\"\n}");
    assert_eq!(
        res["metadata"],
        json!({"topic": "orders", "attempt": 3, "added": "yes"})
    );

    // A mapping that never touches metadata keeps the input's.
    let (_, res) = playground
        .execute(&json!({"mapping": "root = 1", "input": "{}", "metadata": {"k": "v"}}))
        .await;
    assert_eq!(res["metadata"], json!({"k": "v"}));
}

#[tokio::test]
async fn rejects_bad_requests_clearly() {
    let playground = Playground::start(&[]);
    let http = client();

    let res = http
        .post(playground.url("/execute"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415, "a body not declared as JSON");

    let res = http
        .post(playground.url("/execute"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    let err = body["error"].as_str().unwrap();
    assert!(err.starts_with("invalid request body: "), "{err}");

    let res = http
        .post(playground.url("/execute"))
        .header("content-type", "application/json")
        .body(json!({"mapping": "root = this", "metadata": [1]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);

    let huge = "x".repeat(5 * 1024 * 1024);
    let res = http
        .post(playground.url("/execute"))
        .header("content-type", "application/json")
        .body(json!({"mapping": "root = this", "input": huge}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let body: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("larger than the limit"),
        "{body}"
    );

    let res = http.get(playground.url("/execute")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    let res = http.get(playground.url("/nope")).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn serves_a_self_contained_page() {
    let playground = Playground::start(&[]);
    let res = client().get(playground.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "text/html; charset=utf-8"
    );
    let page = res.text().await.unwrap();
    for id in [
        "id=\"mapping\"",
        "id=\"input\"",
        "id=\"input-metadata\"",
        "id=\"output\"",
        "id=\"output-metadata\"",
        "id=\"error\"",
    ] {
        assert!(page.contains(id), "the page lacks {id}");
    }
    // Nothing is loaded from elsewhere.
    assert!(!page.contains("http://") && !page.contains("https://"));
    assert!(!page.contains("src=\""));
    // The initial mapping and input are the defaults.
    assert!(page.contains(r#""mapping":"root = this""#), "{page}");
}

#[tokio::test]
async fn starts_from_files_and_writes_edits_back() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = dir.path().join("mapping.blobl");
    let input = dir.path().join("input.json");
    std::fs::write(&mapping, "root.a = this.a </script>").unwrap();
    let mut playground = Playground::start(&[
        "--write",
        "-m",
        mapping.to_str().unwrap(),
        "-i",
        input.to_str().unwrap(),
    ]);
    let page = client()
        .get(playground.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The mapping is on the page, and cannot end the script that holds it.
    assert!(
        page.contains(r#""mapping":"root.a = this.a \u003c/script>""#),
        "{page}"
    );
    // The input file was missing: the page starts from the default input.
    assert!(page.contains(r#""input":"{\"message\":\"hello world\"}""#));

    playground
        .execute(&json!({"mapping": "root = this.b", "input": r#"{"b":1}"#}))
        .await;
    wait_for_file(&mapping, "root = this.b");
    wait_for_file(&input, r#"{"b":1}"#);

    // A browser keeps its connection open; stopping must not wait for it.
    let http = client();
    let res = http.get(playground.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(playground.terminate().success());
    drop(http);
}

#[tokio::test]
async fn pages_of_other_sites_and_rebound_hosts_cannot_drive_it() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = dir.path().join("mapping.blobl");
    std::fs::write(&mapping, "root = this").unwrap();
    let playground = Playground::start(&["--write", "-m", mapping.to_str().unwrap()]);
    let http = client();
    let edit = json!({"mapping": "root = env(\"HOME\")", "input": "{}"}).to_string();
    // What a form or fetch() of another site can send without a preflight.
    let res = http
        .post(playground.url("/execute"))
        .header("origin", "https://evil.example")
        .header("content-type", "text/plain")
        .body(edit.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let body: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("evil.example"),
        "{body}"
    );
    // A name that DNS rebinding pointed at 127.0.0.1.
    for (method, path) in [("GET", "/"), ("POST", "/execute")] {
        let res = http
            .request(method.parse().unwrap(), playground.url(path))
            .header("host", "rebound.example:4195")
            .header("content-type", "application/json")
            .body(edit.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{method} {path}");
    }
    assert!(playground.logs().contains("refused a request"));
    // None of it reached the file; the playground's own page still works.
    assert_eq!(std::fs::read_to_string(&mapping).unwrap(), "root = this");
    let (status, body) = playground
        .execute(&json!({"mapping": "root = this.a", "input": r#"{"a":2}"#}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["result"], "2");
    wait_for_file(&mapping, "root = this.a");
}

#[test]
fn a_missing_file_without_write_is_an_error() {
    let (code, _, stderr) = run_cli(
        &[
            "blobl",
            "server",
            "--port",
            "0",
            "-m",
            "/nonexistent/m.blobl",
        ],
        "",
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("failed to read mapping file /nonexistent/m.blobl"),
        "{stderr}"
    );
}

#[test]
fn blobl_pretty_indents_like_benthos() {
    let (_, stdout, _) = run_cli(&["blobl", "--pretty", "root = this"], "{\"a\":[1]}\n");
    assert_eq!(stdout, "{\n  \"a\": [\n    1\n  ]\n}\n");
}

fn wait_for_file(path: &Path, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = std::fs::read_to_string(path).unwrap_or_default();
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} holds {got:?}, not {want:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
