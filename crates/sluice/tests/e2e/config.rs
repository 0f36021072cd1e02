//! Spec 9.1 to 9.4: top-level keys, environment variables, interpolation and
//! lints.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{Sluice, bin, client, free_port, run_cli, write_config};

#[test]
fn top_level_resources_key_is_a_lint() {
    let (_dir, path) = write_config(
        r#"input:
  stdin: {}
resources: []
output:
  drop: {}
"#,
    );
    let path = path.display().to_string();
    let (code, _, stderr) = run_cli(&["lint", &path], "");
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        format!("{path}(3,1) field resources not recognised\n")
    );
}

/// Starts sluice on `config` with `env` and waits for its own listener.
async fn answers_on(config: &std::path::Path, env: &[(&str, String)], port: u16) -> String {
    let mut cmd = Command::new(bin());
    cmd.arg("-c")
        .arg(config)
        .args(["--set", "http.address=127.0.0.1:0"])
        .env_remove("ADDR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let url = format!("http://127.0.0.1:{port}/post");
    let mut reply = None;
    for _ in 0..200 {
        if let Ok(res) = client().post(&url).body("x").send().await {
            reply = Some(res.text().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    child.kill().expect("kill sluice");
    child.wait().expect("reap sluice");
    reply.unwrap_or_else(|| panic!("nothing listened on {url}"))
}

#[tokio::test]
async fn env_var_default_is_used_unless_the_variable_is_set() {
    let (default_port, set_port) = (free_port(), free_port());
    let (_dir, path) = write_config(&format!(
        r#"
input:
  http_server:
    address: ${{ADDR:127.0.0.1:{default_port}}}
pipeline:
  processors:
    - mapping: root = "via ${{ADDR:default}}"
output:
  sync_response: {{}}
"#
    ));
    assert_eq!(answers_on(&path, &[], default_port).await, "via default");
    let addr = format!("127.0.0.1:{set_port}");
    assert_eq!(
        answers_on(&path, &[("ADDR", addr.clone())], set_port).await,
        format!("via {addr}")
    );
}

#[test]
fn missing_env_var_is_a_lint_at_line_one() {
    let (_dir, path) = write_config(
        r#"input:
  http_server:
    path: ${SLUICE_TEST_SURELY_UNSET}
output:
  drop: {}
"#,
    );
    let path = path.display().to_string();
    let (code, _, stderr) = run_cli(&["lint", &path], "");
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        format!(
            "{path}(1,1) required environment variables were not set: [SLUICE_TEST_SURELY_UNSET]\n"
        )
    );
}

#[tokio::test]
async fn header_interpolation_of_a_missing_field_gives_null() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
    sync_response:
      headers:
        X-Id: '${! json("id") }'
output:
  sync_response: {}
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body(r#"{"id":7}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-id"], "7");
    // Setting headers replaces the defaults, so the type is sniffed.
    assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
    let res = client()
        .post(sluice.url("/post"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-id"], "null");
    assert_eq!(res.text().await.unwrap(), "{}");
}

#[tokio::test]
async fn header_interpolation_error_skips_the_header_only() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
    sync_response:
      headers:
        X-Id: '${! json("id") }'
        X-Static: yes
output:
  sync_response: {}
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("x-id").is_none());
    assert_eq!(res.headers()["x-static"], "yes");
    assert_eq!(res.text().await.unwrap(), "not json");
}

#[test]
fn lint_prints_file_line_col_message_for_each_problem() {
    let (dir, _) = write_config("");
    let path = dir.path().join("x.yaml");
    std::fs::write(
        &path,
        r#"input:
  label: in
  http_server:
    path: /post
    nope: 1
output:
  drop: {}
"#,
    )
    .unwrap();
    let path = path.display().to_string();
    let (code, stdout, stderr) = run_cli(&["lint", &path], "");
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    assert_eq!(stderr, format!("{path}(5,1) field nope not recognised\n"));

    let clean = dir.path().join("clean.yaml");
    std::fs::write(&clean, "output:\n  drop: {}\n").unwrap();
    let (code, stdout, stderr) = run_cli(&["lint", &clean.display().to_string()], "");
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (0, "", ""));
}

#[test]
fn lint_walks_a_directory_with_the_dots_suffix() {
    let (dir, _) = write_config("");
    let nested = dir.path().join("nested");
    std::fs::create_dir(&nested).unwrap();
    std::fs::write(nested.join("bad.yml"), "input:\n  nope: {}\n").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "input: [").unwrap();
    let arg = format!("{}/...", dir.path().display());
    let (code, _, stderr) = run_cli(&["lint", &arg], "");
    assert_eq!(code, 1);
    // config.yaml is empty and clean; only the nested file has a problem.
    assert_eq!(
        stderr,
        format!(
            "{}(2,1) unable to infer component type: nope\n",
            nested.join("bad.yml").display()
        )
    );
}

/// A config with fields sluice does not know, at the top and inside
/// components.
const UNKNOWN_FIELDS: &str = r#"input:
  http_server:
    path: /post
    nope: 1
pipeline:
  processors:
    - mapping: root = content().uppercase()
output:
  sync_response: {}
  extra: x
"#;

#[tokio::test]
async fn chilled_runs_a_config_whose_lints_do_not_stop_it_and_logs_them() {
    let (_dir, path) = write_config(UNKNOWN_FIELDS);
    let config = path.to_str().unwrap();
    let (code, _, stderr) = run_cli(&["run", config], "");
    assert_eq!(code, 1);
    assert!(
        stderr.contains("(4,1) field nope not recognised"),
        "{stderr}"
    );
    assert!(
        stderr.contains("to prevent shutdown run sluice with --chilled"),
        "{stderr}"
    );

    let sluice = Sluice::start_with_args(UNKNOWN_FIELDS, &["--chilled"]);
    let res = client()
        .post(sluice.url("/post"))
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "HI");
    let logs = sluice.logs();
    assert!(
        logs.contains("(4,1) field nope not recognised") && logs.contains("level=warn"),
        "{logs}"
    );
    assert!(
        logs.contains("(10,1) field extra is invalid when the component type is sync_response"),
        "{logs}"
    );
}

/// `# BENTHOS LINT DISABLE` tolerates unknown fields in components too,
/// while a wrong type still stops the config.
#[tokio::test]
async fn lint_disable_tolerates_unknown_component_fields_but_not_wrong_types() {
    let text = format!("# BENTHOS LINT DISABLE\n{UNKNOWN_FIELDS}");
    let (_dir, path) = write_config(&text);
    let (code, _, stderr) = run_cli(&["lint", path.to_str().unwrap()], "");
    assert_eq!((code, stderr.as_str()), (0, ""));
    let sluice = Sluice::start(&text);
    let res = client()
        .post(sluice.url("/post"))
        .body("ok")
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "OK");

    let broken = text.replace("nope: 1", "timeout: [1]");
    let (_dir, path) = write_config(&broken);
    let (code, _, stderr) = run_cli(&["lint", path.to_str().unwrap()], "");
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("(5,"), "{stderr}");
}
