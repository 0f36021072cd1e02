//! `compress` and `decompress`: each message's content through gzip,
//! zlib, flate, snappy, lz4 or zstd, as Benthos's. Decompression is bounded
//! (a sluice extension, `max_bytes`): a small bomb cannot inflate into all
//! of the process's memory.

use async_trait::async_trait;
use bytes::Bytes;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_bloblang::DecompressError;
use sluice_core::component::processor::{Failed, Processor};
use sluice_core::config::{Lint, Node};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::Batch;

#[derive(Clone, Copy, Debug)]
enum Algorithm {
    Gzip,
    Zlib,
    Flate,
    Snappy,
    Lz4,
    Zstd,
}

impl Algorithm {
    /// The name the shared decoders know the algorithm by.
    fn name(self) -> &'static str {
        match self {
            Algorithm::Gzip => "gzip",
            Algorithm::Zlib => "zlib",
            Algorithm::Flate => "flate",
            Algorithm::Snappy => "snappy",
            Algorithm::Lz4 => "lz4",
            Algorithm::Zstd => "zstd",
        }
    }
}

fn algorithm(name: &str, node: &Node) -> BuildResult<Algorithm> {
    Ok(match name {
        "gzip" | "pgzip" => Algorithm::Gzip,
        "zlib" => Algorithm::Zlib,
        "flate" => Algorithm::Flate,
        "snappy" => Algorithm::Snappy,
        "lz4" => Algorithm::Lz4,
        "zstd" => Algorithm::Zstd,
        "bzip2" => {
            return Err(vec![Lint::error(
                node.mark,
                "compression algorithm 'bzip2' is not supported yet",
            )]);
        }
        other => {
            return Err(vec![Lint::error(
                node.mark,
                format!(
                    "compression algorithm '{other}' is not one of gzip, pgzip, zlib, flate, snappy, lz4 or zstd"
                ),
            )]);
        }
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompressConfig {
    /// gzip, pgzip, zlib, flate, snappy, lz4 or zstd.
    algorithm: String,
    /// The compression level, -1 for the algorithm's default.
    #[serde(default = "default_level")]
    level: i32,
}

const fn default_level() -> i32 {
    -1
}

struct Compress {
    algorithm: Algorithm,
    level: i32,
}

impl Compress {
    /// The same bytes as Bloblang's `compress` method, as in Benthos, where
    /// the processor and the method share one implementation.
    fn apply(&self, input: &[u8]) -> Result<Vec<u8>, String> {
        sluice_bloblang::compress_bytes(self.algorithm.name(), i64::from(self.level), input)
    }
}

#[async_trait]
impl Processor for Compress {
    async fn process(&self, mut batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        for msg in batch.iter_mut() {
            match self.apply(msg.content()) {
                Ok(out) => msg.set_content(Bytes::from(out)),
                Err(err) => msg.set_error(format!("compress: {err}")),
            }
        }
        Ok(vec![batch])
    }
}

pub(crate) fn build_compress(
    node: &Node,
    builder: &mut Builder<'_>,
) -> BuildResult<Box<dyn Processor>> {
    let config: CompressConfig = builder.config(node)?;
    Ok(Box::new(Compress {
        algorithm: algorithm(&config.algorithm, node)?,
        level: config.level,
    }))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecompressConfig {
    /// gzip, pgzip, zlib, flate, snappy, lz4 or zstd.
    algorithm: String,
    /// The largest decompressed message, in bytes; a message that would
    /// inflate beyond it fails instead (a sluice extension; 0 is no limit).
    #[serde(default = "default_max_bytes")]
    max_bytes: usize,
}

const fn default_max_bytes() -> usize {
    64 << 20
}

struct Decompress {
    algorithm: Algorithm,
    max_bytes: usize,
}

impl Decompress {
    fn apply(&self, input: &[u8]) -> Result<Vec<u8>, String> {
        let limit = if self.max_bytes == 0 {
            usize::MAX
        } else {
            self.max_bytes
        };
        sluice_bloblang::decompress_bounded(self.algorithm.name(), input, limit).map_err(|err| {
            match err {
                DecompressError::TooLarge => self.too_large(),
                DecompressError::Failed(err) => err,
            }
        })
    }

    fn too_large(&self) -> String {
        format!(
            "decompressed content exceeds the limit of {} bytes (max_bytes)",
            self.max_bytes
        )
    }
}

#[async_trait]
impl Processor for Decompress {
    async fn process(&self, mut batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        for msg in batch.iter_mut() {
            match self.apply(msg.content()) {
                Ok(out) => msg.set_content(Bytes::from(out)),
                Err(err) => {
                    tracing::error!(algorithm = ?self.algorithm, error = %err, "Decompress failed.");
                    msg.set_error(format!("decompress: {err}"));
                }
            }
        }
        Ok(vec![batch])
    }
}

pub(crate) fn build_decompress(
    node: &Node,
    builder: &mut Builder<'_>,
) -> BuildResult<Box<dyn Processor>> {
    let config: DecompressConfig = builder.config(node)?;
    Ok(Box::new(Decompress {
        algorithm: algorithm(&config.algorithm, node)?,
        max_bytes: config.max_bytes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_round_trips() {
        let input = b"hello hello hello hello".repeat(10);
        for algorithm in [
            Algorithm::Gzip,
            Algorithm::Zlib,
            Algorithm::Flate,
            Algorithm::Snappy,
            Algorithm::Lz4,
            Algorithm::Zstd,
        ] {
            let packed = Compress {
                algorithm,
                level: -1,
            }
            .apply(&input)
            .unwrap();
            let unpacked = Decompress {
                algorithm,
                max_bytes: 1000,
            }
            .apply(&packed)
            .unwrap();
            assert_eq!(unpacked, input, "{algorithm:?}");
        }
    }

    #[test]
    fn the_processor_writes_the_bytes_benthos_does() {
        // Benthos's documented sizes for this sentence: gzip 114, lz4 85.
        let input = b"The quick brown fox jumps over the lazy dog. \
The quick brown fox jumps over the lazy dog.";
        let size = |algorithm| {
            Compress {
                algorithm,
                level: -1,
            }
            .apply(input)
            .unwrap()
            .len()
        };
        assert_eq!(size(Algorithm::Gzip), 114);
        assert_eq!(size(Algorithm::Lz4), 85);
        let bad = Compress {
            algorithm: Algorithm::Lz4,
            level: 12,
        };
        assert_eq!(
            bad.apply(input).unwrap_err(),
            "lz4: invalid compression level: 1048576"
        );
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let zeros = vec![0u8; 10 << 20];
        for algorithm in [
            Algorithm::Gzip,
            Algorithm::Snappy,
            Algorithm::Zstd,
            Algorithm::Lz4,
        ] {
            let packed = Compress {
                algorithm,
                level: 9,
            }
            .apply(&zeros)
            .unwrap();
            let err = Decompress {
                algorithm,
                max_bytes: 1 << 20,
            }
            .apply(&packed)
            .unwrap_err();
            assert!(err.contains("exceeds the limit"), "{algorithm:?}: {err}");
        }
    }
}
