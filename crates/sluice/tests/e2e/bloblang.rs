//! Spec section 10: mappings in a pipeline and the `blobl` command.

use crate::support::{Sluice, client, run_cli};

#[test]
fn blobl_maps_each_line_and_reports_errors_on_stderr() {
    let (code, stdout, stderr) =
        run_cli(&["blobl", "root = this.a.uppercase()"], "{\"a\":\"x\"}\n");
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (0, "X\n", ""));

    let (_, stdout, stderr) = run_cli(&["blobl", "root = this"], "hi\n");
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("unable to reference message as structured (with 'this')"),
        "{stderr}"
    );
}

#[test]
fn blobl_keeps_going_after_a_failed_line() {
    let (code, stdout, stderr) = run_cli(
        &["blobl", "root = this.n * 10"],
        "{\"n\":1}\nnot json\n{\"n\":3}\n",
    );
    assert_eq!(code, 0);
    assert_eq!(stdout, "10\n30\n");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// A parquet file with one byte changed (byte 62 of the method's own example,
/// XOR 0x5a) that makes the parquet reader panic: the method's error, and no
/// panic report on stderr.
const PANICKING_PARQUET_BASE64: &str = concat!(
    "UEFSMRUEFSAVIEwVBBUAEgAAAQAAAAAAAAACAAAAAAAAABUAFQYVBiwVBBUQFQYVBgAAAQMCFQQVJhUmTBVeFQASAA",
    "AFAAAAZmlyc3QGAAAAc2Vjb25kFQAVBhUGLBUEFRAVBhUGAAABAwIVBBUQFRBMFQIVABIAAAAAAAAAAPg/FQAVEBUQ",
    "LBUEFRAVBhUGAAACAAAAAwEAAhUEFRQVFEwVBBUAEgAAAQAAAGEBAAAAYhUAFR4VHiwVBhUQFQYVBgAAAgAAAAMCAg",
    "AAAAMDAQMCGRICGRgIAQAAAAAAAAAZGAgCAAAAAAAAABUCGRYAABkSAhkYBWZpcnN0GRgGc2Vjb25kFQIZFgAAGRIC",
    "GRgIAAAAAAAA+D8ZGAgAAAAAAAD4PxUCGRYCKSYCAhkWAAAZEgIZGAFhGRgBYhUCGRYCGSYEAhkmAgQAGRwWRBUoFg",
    "AAABkcFq4BFSgWAAAZFhYAGRwWggIVMhYAAAAZHBbkAhVAFgAAGRYEABUCGXxIB2V4YW1wbGUVCAAVBCUAGAJpZAAV",
    "DCUAGARuYW1lJQAAFQolAhgFc2NvcmUANQAYBHRhZ3MVAhUGTDwAAAA1BBgEbGlzdBUCABUMJQAYB2VsZW1lbnQlAA",
    "AWBBkcGUwmABwVBBk1AAYQGRgCaWQVABYEFmQWZCZEJggcGAgCAAAAAAAAABgIAQAAAAAAAAAWACgIAgAAAAAAAAAY",
    "CAEAAAAAAAAAEREAGSwVBBUAFQIAFQAVEBUCAAAWlAUVFBakAxU+ACYAHBUMGTUABhAZGARuYW1lFQAWBBZqFmomrg",
    "EmbBw2ACgGc2Vjb25kGAVmaXJzdBERABksFQQVABUCABUAFRAVAgA8FhYAABaoBRUcFuIDFTQAJgAcFQoZNQAGEBkY",
    "BXNjb3JlFQAWBBZeFl4mggIm1gEcNgIoCAAAAAAAAPg/GAgAAAAAAAD4PxERFgAAGSwVBBUAFQIAFQAVEBUCADw5Jg",
    "ICAAAWxAUVFhaWBBVMACYAHBUMGTUABhAZOAR0YWdzBGxpc3QHZWxlbWVudBUAFgYWcBZwJuQCJrQCHDYCKAFiGAFh",
    "EREAGSwVBBUAFQIAFQAVEBUCADwWBBkmBAIZJgIEAAAW2gUVHBbiBBUyABacAxYEJggWnAMUAAAoGXBhcnF1ZXQtcn",
    "MgdmVyc2lvbiA2MC4xLjAZTBwAABwAACwAABwAAAARAgAAUEFSMQ==",
);

#[test]
fn parse_parquet_on_a_file_the_reader_panics_over_is_an_error_without_a_report() {
    let (code, stdout, stderr) = run_cli(
        &[
            "blobl",
            r#"root = content().decode("base64").parse_parquet().catch(err -> "error: " + err)"#,
        ],
        &format!("{PANICKING_PARQUET_BASE64}\n"),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("error: failed to read parquet data"),
        "{stdout}"
    );
    assert_eq!(stderr, "", "a recovered panic was reported");
}

#[test]
fn blobl_rejects_a_mapping_that_does_not_parse() {
    let (code, stdout, stderr) = run_cli(&["blobl", "root = "], "{}\n");
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    assert!(stderr.contains("line 1 char"), "{stderr}");
}

#[tokio::test]
async fn structured_results_are_encoded_like_go() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - mapping: root = this
output:
  sync_response: {}
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body(r#"{"b":1,"a":{"d":"<x>","c":1.50}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.text().await.unwrap(),
        r#"{"a":{"c":1.50,"d":"<x>"},"b":1}"#
    );
}

#[tokio::test]
async fn strings_are_written_raw_and_numbers_by_type() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - mapping: |
        root = match content().string() {
          "string" => "plain text",
          "division" => 10 / 4,
          "whole" => 6 / 2,
          "product" => 3 * 4,
          _ => {"nested": [1, "two", null, true]},
        }
output:
  sync_response: {}
"#,
    );
    for (body, expected) in [
        ("string", "plain text"),
        ("division", "2.5"),
        ("whole", "3"),
        ("product", "12"),
        ("other", r#"{"nested":[1,"two",null,true]}"#),
    ] {
        let res = client()
            .post(sluice.url("/post"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{body}");
        assert_eq!(res.text().await.unwrap(), expected, "{body}");
    }
}

#[test]
fn blobl_raw_makes_this_the_line_itself() {
    let (code, stdout, stderr) = run_cli(&["blobl", "-r", "root = this.uppercase()"], "hello\n");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "HELLO\n");
    // Without --raw the same line is not JSON, so `this` fails.
    let (code, stdout, stderr) = run_cli(&["blobl", "root = this.uppercase()"], "hello\n");
    assert_eq!(code, 0);
    assert_eq!(stdout, "");
    assert!(stderr.contains("parse as json"), "{stderr}");
}
