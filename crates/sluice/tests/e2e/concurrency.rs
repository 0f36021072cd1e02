//! Many concurrent callers: every reply belongs to its own request.

use futures::StreamExt as _;

use crate::support::{Sluice, client};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_concurrent_requests_each_get_their_own_reply() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
    timeout: 20s
pipeline:
  processors:
    - mapping: 'root = {"id": this.id, "doubled": this.id * 2}'
output:
  sync_response: {}
"#,
    );
    let client = client();
    let url = sluice.url("/post");
    let mismatches: Vec<String> = futures::stream::iter(0..2000u32)
        .map(|id| {
            let client = client.clone();
            let url = url.clone();
            async move {
                let res = client
                    .post(url)
                    .body(format!(r#"{{"id":{id}}}"#))
                    .send()
                    .await
                    .unwrap();
                let status = res.status();
                let body = res.text().await.unwrap();
                let expected = format!(r#"{{"doubled":{},"id":{id}}}"#, id * 2);
                (status != 200 || body != expected)
                    .then(|| format!("request {id}: {status} {body}"))
            }
        })
        .buffer_unordered(200)
        .filter_map(std::future::ready)
        .collect()
        .await;
    assert!(mismatches.is_empty(), "{mismatches:?}");
}
