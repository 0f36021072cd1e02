//! `file`: appends messages to a file whose path may be interpolated.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_bloblang::Interpolation;
use sluice_core::component::output::{Output, OutputError};
use sluice_core::config::Node;
use sluice_core::environment::{BuildResult, Builder, BuiltOutput};
use sluice_core::message::Batch;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use crate::codec::{Codec, encode};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// The file messages are written to; supports interpolation.
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    path: String,
    /// How messages are separated in the file, such as lines or all-bytes.
    #[serde(default)]
    codec: Option<String>,
    /// A directory every written file must stay inside: a relative path is
    /// taken from it, and a path that leaves it (`..`, or absolute
    /// elsewhere) fails the message instead of being written. Empty: no
    /// guard (a sluice extension).
    #[serde(default)]
    base_dir: String,
}

struct FileOutput {
    path: Interpolation,
    base_dir: Option<PathBuf>,
    codec: Codec,
    // Serialises appends so lines from concurrent writes never interleave.
    lock: Mutex<()>,
}

#[async_trait]
impl Output for FileOutput {
    async fn write(&self, batch: &Batch) -> Result<(), OutputError> {
        let _guard = self.lock.lock().await;
        for (index, msg) in batch.iter().enumerate() {
            let path = self
                .path
                .render(&batch[..], index)
                .map_err(|e| OutputError::Failed(Box::new(e)))?;
            let path = match &self.base_dir {
                None => PathBuf::from(path),
                Some(base) => inside(base, &path).map_err(OutputError::Failed)?,
            };
            if let Some(parent) = path.parent()
                && !parent.as_os_str().is_empty()
            {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|e| OutputError::Failed(Box::new(e)))?;
            }
            let mut file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .await
                .map_err(|e| OutputError::Failed(Box::new(e)))?;
            let bytes = encode(self.codec, &Batch::from(msg.clone()));
            file.write_all(&bytes)
                .await
                .map_err(|e| OutputError::Failed(Box::new(e)))?;
            file.flush()
                .await
                .map_err(|e| OutputError::Failed(Box::new(e)))?;
        }
        Ok(())
    }
}

/// `path` taken from `base` when relative, and lexically normalised; an
/// error when the result is not inside `base`. Lexical: a symbolic link
/// inside `base` that points elsewhere is followed, as the operator made it.
fn inside(base: &Path, path: &str) -> Result<PathBuf, Box<dyn std::error::Error + Send + Sync>> {
    let mut resolved = PathBuf::new();
    for part in base.join(path).components() {
        match part {
            Component::ParentDir => {
                resolved.pop();
            }
            Component::CurDir => {}
            other => resolved.push(other),
        }
    }
    if resolved.starts_with(base) && resolved != base {
        Ok(resolved)
    } else {
        Err(format!("path {path:?} is outside base_dir {:?}", base.display()).into())
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<BuiltOutput> {
    let config: FileConfig = builder.config(node)?;
    let path = builder.interpolation(&config.path, node.mark)?;
    let base_dir = match config.base_dir.as_str() {
        "" => {
            if !path.is_static() {
                builder.warn(
                    node.mark,
                    "file output path is interpolated without base_dir: message data can \
                     choose any path the process may write (set base_dir to confine it)",
                );
            }
            None
        }
        dir => Some(normalise_base(dir)),
    };
    Ok(BuiltOutput {
        output: Arc::new(FileOutput {
            path,
            base_dir,
            codec: Codec::parse(config.codec.as_deref(), node.mark)?,
            lock: Mutex::new(()),
        }),
        max_in_flight: 1,
        batching: None,
    })
}

/// `dir` made absolute (from the working directory) and without `.` or `..`
/// parts, so that paths compare with it part by part.
fn normalise_base(dir: &str) -> PathBuf {
    let dir = std::path::absolute(dir).unwrap_or_else(|_| PathBuf::from(dir));
    let mut resolved = PathBuf::new();
    for part in dir.components() {
        match part {
            Component::ParentDir => {
                resolved.pop();
            }
            Component::CurDir => {}
            other => resolved.push(other),
        }
    }
    resolved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_base_dir() {
        let base = Path::new("/data/out");
        assert_eq!(
            inside(base, "a/b.txt").unwrap(),
            Path::new("/data/out/a/b.txt")
        );
        assert_eq!(
            inside(base, "/data/out/x/../y.txt").unwrap(),
            Path::new("/data/out/y.txt")
        );
        for escape in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "..",
            "",
            "/data/outside/x",
        ] {
            let err = inside(base, escape).unwrap_err().to_string();
            assert!(err.contains("outside base_dir"), "{escape}: {err}");
        }
    }
}
