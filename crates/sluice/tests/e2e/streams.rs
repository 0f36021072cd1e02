//! `sluice streams`: several named streams in one process, their endpoints
//! under `/<name>`, and the `/streams` REST API.

use serde_json::Value;

use crate::support::{Sluice, client, post, run_cli};

fn echo_stream(word: &str, path: &str) -> String {
    format!(
        r#"
input:
  http_server:
    path: {path}
pipeline:
  processors:
    - mapping: 'root = "{word} " + content()'
output:
  sync_response: {{}}
"#
    )
}

async fn send(method: reqwest::Method, url: &str, body: &str) -> (u16, String) {
    let res = client()
        .request(method, url)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn get_json(url: &str) -> Value {
    let body = client()
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&body).unwrap()
}

#[tokio::test]
async fn files_become_streams_named_after_them_with_prefixed_endpoints() {
    let sluice = Sluice::start_streams(
        &[
            ("foo.yaml", &echo_stream("foo", "/post")),
            ("team/bar.yml", &echo_stream("bar", "/post")),
            ("notes.txt", "not a stream"),
        ],
        &[],
    );
    assert_eq!(
        post(&sluice, "/foo/post", "hi").await,
        (200, "foo hi".to_owned())
    );
    assert_eq!(
        post(&sluice, "/team_bar/post", "hi").await,
        (200, "bar hi".to_owned())
    );
    assert_eq!(post(&sluice, "/post", "hi").await.0, 404);

    let list = get_json(&sluice.url("/streams")).await;
    let names: Vec<&String> = list.as_object().unwrap().keys().collect();
    assert_eq!(names, ["foo", "team_bar"]);
    assert_eq!(list["foo"]["active"], true);
    assert!(list["foo"]["uptime"].as_f64().unwrap() > 0.0);
    assert!(list["foo"]["uptime_str"].as_str().unwrap().ends_with('s'));
    let ready = client().get(sluice.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn streams_are_created_read_patched_replaced_and_deleted_over_the_api() {
    let sluice = Sluice::start_streams(&[("foo.yaml", &echo_stream("foo", "/post"))], &[]);
    let api = |name: &str| sluice.url(&format!("/streams/{name}"));

    // Create.
    let (status, body) = send(
        reqwest::Method::POST,
        &api("baz"),
        &echo_stream("baz", "/in"),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(
        post(&sluice, "/baz/in", "x").await,
        (200, "baz x".to_owned())
    );
    // A second create of the same name is refused.
    let (status, body) = send(
        reqwest::Method::POST,
        &api("baz"),
        &echo_stream("baz", "/in"),
    )
    .await;
    assert_eq!((status, body.as_str()), (400, "Stream already exists\n"));

    // Read: status and the config as JSON.
    let read = get_json(&api("baz")).await;
    assert_eq!(read["active"], true);
    assert_eq!(read["config"]["input"]["http_server"]["path"], "/in");

    // Patch one section: the rest of the config stays.
    let patch = r#"{"pipeline": {"processors": [{"mapping": "root = content().uppercase()"}]}}"#;
    assert_eq!(
        send(reqwest::Method::PATCH, &api("baz"), patch).await.0,
        200
    );
    assert_eq!(post(&sluice, "/baz/in", "x").await, (200, "X".to_owned()));

    // Replace.
    let (status, _) = send(
        reqwest::Method::PUT,
        &api("baz"),
        &echo_stream("new", "/in"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        post(&sluice, "/baz/in", "x").await,
        (200, "new x".to_owned())
    );
    let (status, body) = send(reqwest::Method::PUT, &api("nope"), &echo_stream("x", "/in")).await;
    assert_eq!((status, body.as_str()), (404, "Stream not found\n"));

    // Delete: its endpoints go with it; the other stream is untouched.
    assert_eq!(send(reqwest::Method::DELETE, &api("baz"), "").await.0, 200);
    assert_eq!(post(&sluice, "/baz/in", "x").await.0, 404);
    assert_eq!(client().get(api("baz")).send().await.unwrap().status(), 404);
    assert_eq!(
        post(&sluice, "/foo/post", "still").await,
        (200, "foo still".to_owned())
    );
}

#[tokio::test]
async fn a_config_with_problems_is_refused_with_its_lines() {
    let sluice = Sluice::start_streams(&[("foo.yaml", &echo_stream("foo", "/post"))], &[]);
    let bad = "input:\n  http_server:\n    nope: 1\noutput:\n  drop: {}\n";
    let (status, body) = send(reqwest::Method::POST, &sluice.url("/streams/bad"), bad).await;
    assert_eq!(status, 400);
    let lints: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        lints,
        serde_json::json!({"lint_errors": ["line 3: field nope not recognised"]})
    );
    // Process-wide sections belong to the observability config.
    let misplaced = format!("http:\n  address: 0.0.0.0:1\n{}", echo_stream("x", "/x"));
    let (status, body) = send(reqwest::Method::POST, &sluice.url("/streams/m"), &misplaced).await;
    assert_eq!(status, 400);
    assert!(
        body.contains("field http is not allowed in a stream config"),
        "{body}"
    );
    // Nothing was created.
    let list = get_json(&sluice.url("/streams")).await;
    assert_eq!(list.as_object().unwrap().len(), 1);
}

#[tokio::test]
async fn posting_the_whole_set_replaces_every_stream() {
    let sluice = Sluice::start_streams(
        &[
            ("foo.yaml", &echo_stream("foo", "/post")),
            ("gone.yaml", &echo_stream("gone", "/post")),
        ],
        &[],
    );
    let set = serde_json::json!({
        "foo": echo_stream_json("foo2", "/post"),
        "fresh": echo_stream_json("fresh", "/post"),
    });
    let (status, body) = send(
        reqwest::Method::POST,
        &sluice.url("/streams"),
        &set.to_string(),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, ""));
    let list = get_json(&sluice.url("/streams")).await;
    let names: Vec<&String> = list.as_object().unwrap().keys().collect();
    assert_eq!(names, ["foo", "fresh"]);
    assert_eq!(
        post(&sluice, "/foo/post", "a").await,
        (200, "foo2 a".to_owned())
    );
    assert_eq!(
        post(&sluice, "/fresh/post", "a").await,
        (200, "fresh a".to_owned())
    );
    assert_eq!(post(&sluice, "/gone/post", "a").await.0, 404);

    // One bad config in the set changes nothing.
    let bad =
        serde_json::json!({"foo": {"input": {"http_server": {"nope": 1}}, "output": {"drop": {}}}});
    let (status, body) = send(
        reqwest::Method::POST,
        &sluice.url("/streams"),
        &bad.to_string(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("stream 'foo': line"), "{body}");
    assert_eq!(
        post(&sluice, "/fresh/post", "b").await,
        (200, "fresh b".to_owned())
    );
}

/// [`echo_stream`] as JSON, the way an API client would send it.
fn echo_stream_json(word: &str, path: &str) -> Value {
    serde_json::json!({
        "input": {"http_server": {"path": path}},
        "pipeline": {"processors": [{"mapping": format!("root = \"{word} \" + content()")}]},
        "output": {"sync_response": {}},
    })
}

#[tokio::test]
async fn endpoints_can_stay_unprefixed_and_the_api_can_be_left_out() {
    let sluice = Sluice::start_streams(
        &[("foo.yaml", &echo_stream("foo", "/foo_in"))],
        &["--prefix-stream-endpoints=false", "--no-api"],
    );
    assert_eq!(
        post(&sluice, "/foo_in", "hi").await,
        (200, "foo hi".to_owned())
    );
    assert_eq!(
        client()
            .get(sluice.url("/streams"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[test]
fn a_stream_file_with_problems_stops_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.yaml");
    std::fs::write(
        &path,
        "input:\n  http_server:\n    nope: 1\noutput:\n  drop: {}\n",
    )
    .unwrap();
    let (code, _, stderr) = run_cli(
        &[
            "streams",
            "--set",
            "http.address=127.0.0.1:0",
            path.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("broken.yaml(3,1) field nope not recognised"),
        "{stderr}"
    );
}

#[tokio::test]
async fn each_stream_reports_metrics_under_its_own_name() {
    let sluice = Sluice::start_streams(
        &[
            ("foo.yaml", &echo_stream("foo", "/post")),
            ("bar.yaml", &echo_stream("bar", "/post")),
        ],
        &[],
    );
    for _ in 0..3 {
        post(&sluice, "/foo/post", "x").await;
    }
    post(&sluice, "/bar/post", "x").await;
    let metrics = sluice.metrics().await;
    let received = |stream: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("input_received{") && l.contains(&format!("stream=\"{stream}\""))
            })
            .unwrap_or_else(|| panic!("no input_received for {stream} in:\n{metrics}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(received("foo"), "3");
    assert_eq!(received("bar"), "1");
}

/// With no stream at all, streams mode is ready (as Benthos's streams API
/// is); once a stream runs, `/ready` reports its connections.
#[tokio::test]
async fn ready_with_no_streams_and_with_one() {
    let sluice = Sluice::start_streams(&[], &[]);
    let ready = client().get(sluice.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.unwrap(), "{\"statuses\":[]}\n");

    let (status, _) = send(
        reqwest::Method::POST,
        &sluice.url("/streams/foo"),
        &echo_stream("foo", "/post"),
    )
    .await;
    assert_eq!(status, 200);
    // The new stream reports its input and output once they have started.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let body = get_json(&sluice.url("/ready")).await;
        let reported = body["statuses"].as_array().map_or(0, Vec::len);
        if reported == 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{body}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
