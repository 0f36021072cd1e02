//! The command line: version, echo, `--set`, env files and signals.

use std::time::Duration;

use crate::support::{Sluice, client, run_cli, write_config};

#[test]
fn version_flag_prints_version_and_date() {
    for flag in ["-v", "--version"] {
        let (code, stdout, stderr) = run_cli(&[flag], "");
        assert_eq!(code, 0);
        assert_eq!(stderr, "");
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{stdout}");
        assert_eq!(lines[0], format!("Version: {}", env!("CARGO_PKG_VERSION")));
        assert!(lines[1].starts_with("Date: "), "{stdout}");
    }
}

#[test]
fn unknown_command_is_refused() {
    let (code, _, stderr) = run_cli(&["frobnicate"], "");
    assert_eq!(code, 1);
    assert!(stderr.contains("Unrecognised command"), "{stderr}");
}

#[test]
fn echo_prints_the_config_back_with_sets_applied_and_defaults_filled() {
    let (_dir, path) = write_config(
        r#"input:
  http_server:
    path: /post
pipeline:
  processors:
    - catch:
        - log:
            message: oops
output:
  sync_response: {}
"#,
    );
    let path = path.display().to_string();
    let (code, stdout, stderr) = run_cli(
        &["echo", &path, "--set", "input.http_server.path=/changed"],
        "",
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("    path: /changed\n"), "{stdout}");
    assert!(!stdout.contains("path: /post\n"), "{stdout}");
    assert!(stdout.contains("sync_response"), "{stdout}");
    // Every field left out is there with its default, nested components
    // included, and the sections come in Benthos's order.
    for expected in [
        "http:\n  address: 0.0.0.0:4195\n",
        "input:\n  label: \"\"\n  http_server:\n    path: /changed\n",
        "    timeout: 5s\n",
        "    - label: \"\"\n      catch:\n        - label: \"\"\n          log:\n            message: oops\n            level: INFO\n",
        "  threads: -1\n",
        "logger:\n",
        "shutdown_timeout: 20s\n",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing from:\n{stdout}"
        );
    }
    let order: Vec<usize> = ["http:", "input:", "pipeline:", "output:", "logger:"]
        .iter()
        .map(|section| stdout.find(&format!("\n{section}")).map_or(0, |at| at + 1))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}\n{stdout}");

    // What echo prints is a config in its own right: echoing it again gives
    // the same text and it lints clean.
    let (_dir, again_path) = write_config(&stdout);
    let again_path = again_path.display().to_string();
    let (code, again, stderr) = run_cli(&["echo", &again_path], "");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(again, stdout);
    let (code, _, stderr) = run_cli(&["lint", &again_path], "");
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn echo_scrubs_secrets_unless_asked_for_them() {
    let (_dir, path) = write_config(
        r#"http:
  basic_auth:
    enabled: true
    username: admin
    password_hash: c2VjcmV0aGFzaA==
input:
  amqp_0_9:
    urls: [ "amqp://guest:hunter2@localhost:5672/" ]
    queue: q
output:
  http_client:
    url: http://localhost:8080/
    oauth2:
      enabled: true
      client_key: app
      client_secret: s3cr3t-value
      token_url: http://localhost:8080/token
"#,
    );
    let path = path.display().to_string();
    let (code, stdout, stderr) = run_cli(&["echo", &path], "");
    assert_eq!(code, 0, "{stderr}");
    for hidden in ["c2VjcmV0aGFzaA==", "hunter2", "s3cr3t-value"] {
        assert!(!stdout.contains(hidden), "{hidden} printed:\n{stdout}");
    }
    assert!(
        stdout.contains("password_hash: '!!!SECRET_SCRUBBED!!!'"),
        "{stdout}"
    );
    assert!(
        stdout.contains("amqp://guest:!!!SECRET_SCRUBBED!!!@localhost:5672/"),
        "{stdout}"
    );
    assert!(stdout.contains("username: admin"), "{stdout}");
    let (code, stdout, stderr) = run_cli(&["echo", "--secrets", &path], "");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("c2VjcmV0aGFzaA=="), "{stdout}");
    assert!(
        stdout.contains("amqp://guest:hunter2@localhost"),
        "{stdout}"
    );
}

#[tokio::test]
async fn set_overrides_a_field() {
    let sluice = Sluice::start_with_args(
        r#"
input:
  http_server:
    path: /post
output:
  sync_response: {}
"#,
        &["--set", "input.http_server.path=/other"],
    );
    let res = client()
        .post(sluice.url("/other"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "x");
    let res = client()
        .post(sluice.url("/post"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn env_file_variables_are_substituted() {
    let env_dir = tempfile::tempdir().unwrap();
    let env_file = env_dir.path().join("test.env");
    std::fs::write(
        &env_file,
        "GREETING=hello from the env file\nROUTE=/greet\n",
    )
    .unwrap();
    let env_arg = env_file.display().to_string();
    let sluice = Sluice::start_with_args(
        r#"
input:
  http_server:
    path: ${ROUTE}
pipeline:
  processors:
    - mapping: root = "${GREETING}, ${NAME:stranger}"
output:
  sync_response: {}
"#,
        &["-e", &env_arg],
    );
    let res = client()
        .post(sluice.url("/greet"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.text().await.unwrap(),
        "hello from the env file, stranger"
    );
}

#[test]
fn run_refuses_a_config_with_lints() {
    let (_dir, path) = write_config(
        r#"input:
  http_server:
    nope: 1
output:
  drop: {}
"#,
    );
    let path = path.display().to_string();
    for args in [vec!["-c", path.as_str()], vec!["run", path.as_str()]] {
        let (code, _, stderr) = run_cli(&args, "");
        assert_eq!(code, 1, "{args:?}");
        assert!(
            stderr.contains(&format!("{path}(3,1) field nope not recognised")),
            "{stderr}"
        );
        assert!(
            stderr.contains("Shutting down due to linter errors"),
            "{stderr}"
        );
    }
}

#[test]
fn run_accepts_only_one_config() {
    let (_dir, path) = write_config("output:\n  drop: {}\n");
    let path = path.display().to_string();
    let (code, _, stderr) = run_cli(&["run", &path, &path], "");
    assert_eq!(code, 1);
    assert!(stderr.contains("a maximum of one config"), "{stderr}");
}

#[test]
fn stdin_to_stdout_stream_runs_to_the_end() {
    let (_dir, path) = write_config(
        r#"
http:
  enabled: false
pipeline:
  threads: 1
  processors:
    - mapping: root = content().uppercase()
"#,
    );
    let path = path.display().to_string();
    let input: String = (0..50).map(|i| format!("line {i}\n")).collect();
    let (code, stdout, stderr) = run_cli(&["-c", &path], &input);
    assert_eq!(code, 0, "{stderr}");
    // One pipeline thread and one writer keep the input order.
    assert_eq!(stdout, input.to_uppercase());
}

#[tokio::test]
async fn sigterm_with_nothing_in_flight_exits_cleanly() {
    let mut sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
output:
  sync_response: {}
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    sluice.terminate();
    let status = sluice.wait_exit(Duration::from_secs(5)).expect("exits");
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_reader_that_stops_early_gets_no_panic_report() {
    use std::io::Read as _;
    let mut child = std::process::Command::new(crate::support::bin())
        .args(["list", "--format", "jsonschema"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read a little, then go away, as `| head -c 10` does.
    let mut start = [0u8; 10];
    child.stdout.take().unwrap().read_exact(&mut start).unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(status.code() == Some(141) || status.success(), "{status:?}");
}
