//! `-w/--watcher`: editing the config file replaces the running stream.
//! Requests in flight finish on the old stream, new ones go to the new one,
//! and a broken config is refused while the old stream keeps answering.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::{Sluice, client, free_port};

/// A stream that answers `{"id":..,"version":"<version>"}` on `path`, with
/// an optional own address.
fn config(version: &str, path: &str, address: Option<&str>) -> String {
    let address = address.map_or(String::new(), |a| format!("\n    address: {a}"));
    format!(
        r#"
input:
  http_server:
    path: {path}{address}
    timeout: 10s
pipeline:
  processors:
    - mapping: 'root = {{"id": this.id, "version": "{version}"}}'
output:
  sync_response: {{}}
"#
    )
}

fn config_path(sluice: &Sluice) -> PathBuf {
    sluice.dir.join("config.yaml")
}

/// Saves the way most editors do: a new file renamed over the old one.
fn save(path: &Path, text: &str) {
    let tmp = path.with_extension("yaml.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The status and body of a request, or the connection error as a body
/// with status 0.
async fn answer(url: &str, id: u64) -> (u16, String) {
    let res = client()
        .post(url)
        .body(format!(r#"{{"id":{id}}}"#))
        .send()
        .await;
    match res {
        Ok(res) => (res.status().as_u16(), res.text().await.unwrap_or_default()),
        Err(err) => (0, format!("{err:?}")),
    }
}

/// Like [`answer`], but the body arrives in two parts 20 ms apart, so the
/// request is inside sluice's handler, not yet in the pipeline, for a while.
async fn slow_answer(addr: std::net::SocketAddr, id: u64) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let body = format!(r#"{{"id":{id}}}"#);
    let (first, rest) = body.split_at(3);
    let exchange = async {
        let mut conn = tokio::net::TcpStream::connect(addr).await?;
        let head = format!(
            "POST /post HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{first}",
            body.len()
        );
        conn.write_all(head.as_bytes()).await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
        conn.write_all(rest.as_bytes()).await?;
        let mut response = String::new();
        conn.read_to_string(&mut response).await?;
        std::io::Result::Ok(response)
    };
    match exchange.await {
        Ok(response) => {
            let status = response
                .get(9..12)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let body = response
                .split_once("\r\n\r\n")
                .map_or(String::new(), |(_, b)| b.to_owned());
            (status, body)
        }
        Err(err) => (0, err.to_string()),
    }
}

/// Polls until `url` answers with `version`.
async fn wait_for_version(sluice: &Sluice, url: &str, version: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let expected = format!(r#"{{"id":0,"version":"{version}"}}"#);
    loop {
        let (status, body) = answer(url, 0).await;
        if status == 200 && body == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never answered with {version}: last {status} {body}\n{}",
            sluice.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_config_replaces_the_stream() {
    let sluice = Sluice::start_with_args(&config("v1", "/post", None), &["-w"]);
    let url = sluice.url("/post");
    assert_eq!(
        answer(&url, 7).await,
        (200, r#"{"id":7,"version":"v1"}"#.to_owned())
    );

    // A plain in-place write (truncate then write) is seen too.
    std::fs::write(config_path(&sluice), config("v2", "/post", None)).unwrap();
    wait_for_version(&sluice, &url, "v2").await;
    assert!(sluice.wait_for_log("Config reloaded", Duration::from_secs(20)));

    // Endpoints follow the config: the old path is gone.
    save(&config_path(&sluice), &config("v3", "/other", None));
    wait_for_version(&sluice, &sluice.url("/other"), "v3").await;
    assert_eq!(answer(&url, 1).await.0, 404);
    let endpoints = client()
        .get(sluice.url("/endpoints"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(endpoints.contains("/other") && !endpoints.contains("\"/post\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_config_is_refused_and_the_old_stream_keeps_answering() {
    let sluice = Sluice::start_with_args(&config("v1", "/post", None), &["-w"]);
    let url = sluice.url("/post");
    let broken =
        config("v2", "/post", None).replace("timeout: 10s", "timeout: 10s\n    nonsense: 1");
    save(&config_path(&sluice), &broken);
    assert!(
        sluice.wait_for_log("Config reload refused", Duration::from_secs(10)),
        "{}",
        sluice.logs()
    );
    // The lint names the file, line and column.
    assert!(
        sluice
            .logs()
            .contains("config.yaml(6,1) field nonsense not recognised"),
        "{}",
        sluice.logs()
    );
    assert_eq!(
        answer(&url, 3).await,
        (200, r#"{"id":3,"version":"v1"}"#.to_owned())
    );

    // A mapping that does not parse is refused the same way.
    let bad_mapping = config("v2", "/post", None).replace("root = {", "root = {{");
    save(&config_path(&sluice), &bad_mapping);
    let deadline = Instant::now() + Duration::from_secs(10);
    while sluice.logs().matches("Config reload refused").count() < 2 {
        assert!(Instant::now() < deadline, "{}", sluice.logs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(answer(&url, 4).await.0, 200);

    // Fixing it brings the new version in.
    save(&config_path(&sluice), &config("v2", "/post", None));
    wait_for_version(&sluice, &url, "v2").await;
}

/// Callers post without pause while the config is rewritten several times:
/// every request is answered 200 with its own id, by one version or the
/// other, never an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reloads_under_load_lose_no_request() {
    let sluice = Sluice::start_with_args(&config("v0", "/post", None), &["-w"]);
    let url = sluice.url("/post");
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let mut callers = Vec::new();
    for caller in 0..16u64 {
        let (url, stop, sent) = (url.clone(), Arc::clone(&stop), Arc::clone(&sent));
        let addr = sluice.addr;
        callers.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let id = caller * 1_000_000 + n;
                n += 1;
                // Half the callers are slow writers.
                let (status, body) = if caller % 2 == 0 {
                    answer(&url, id).await
                } else {
                    slow_answer(addr, id).await
                };
                sent.fetch_add(1, Ordering::Relaxed);
                let own = (0..=5).any(|v| body == format!(r#"{{"id":{id},"version":"v{v}"}}"#));
                if status != 200 || !own {
                    failures.push(format!("{id}: {status} {body}"));
                }
            }
            failures
        }));
    }
    for version in 1..=5 {
        save(
            &config_path(&sluice),
            &config(&format!("v{version}"), "/post", None),
        );
        wait_for_version(&sluice, &url, &format!("v{version}")).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for caller in callers {
        failures.extend(caller.await.unwrap());
    }
    assert!(
        failures.is_empty(),
        "{} failures: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    assert!(
        sent.load(Ordering::Relaxed) > 100,
        "too little load to mean anything"
    );
    assert_eq!(sluice.logs().matches("Config reloaded").count(), 5);
}

/// An input with its own address keeps its socket across a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_with_its_own_address_keeps_serving_across_reloads() {
    let address = format!("127.0.0.1:{}", free_port());
    let sluice = Sluice::start_with_args(&config("v1", "/own", Some(&address)), &["-w"]);
    let url = format!("http://{address}/own");
    wait_for_version(&sluice, &url, "v1").await;
    save(&config_path(&sluice), &config("v2", "/own", Some(&address)));
    wait_for_version(&sluice, &url, "v2").await;

    // Moving to another address frees the first one.
    let moved = format!("127.0.0.1:{}", free_port());
    save(&config_path(&sluice), &config("v3", "/own", Some(&moved)));
    wait_for_version(&sluice, &format!("http://{moved}/own"), "v3").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&address).is_ok() {
        assert!(
            Instant::now() < deadline,
            "{address} still accepts connections"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
