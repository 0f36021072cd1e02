//! Compression, symmetric encryption and password hash comparison.

use std::io::{Read as _, Write as _};

use aes::cipher::{BlockDecryptMut as _, BlockEncryptMut as _, KeyIvInit as _, StreamCipher as _};
use aes_gcm::aead::{Aead as _, KeyInit as _};

use crate::budget::Steps;
use crate::env::{Environment, Kind, MethodImpl, ex, opt, p};
use crate::methods::encoding::raw_bytes;
use crate::methods::{int_arg, str_arg, text};
use crate::value::Value;

/// The gzip header's time field as Benthos's writer (klauspost/compress) fills it from a zero
/// `time.Time`: the low 32 bits of its Unix time, -62135596800.
const GO_ZERO_MTIME: u32 = (-62_135_596_800_i64).rem_euclid(1 << 32) as u32;

/// A DEFLATE stream's end as Benthos's compressor writes it: an empty final block with fixed
/// codes (ten bits) rather than an empty stored one.
const GO_FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

fn push_stored_blocks(out: &mut Vec<u8>, src: &[u8]) {
    for chunk in src.chunks(65_535) {
        let len = chunk.len() as u16;
        out.push(0);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
}

/// Whether Benthos's compressor at levels 1 to 6 surely stores a block of under 128 bytes:
/// it stores up to 32 bytes outright, and above that when the stored size is no more than its
/// estimate for Huffman codes, which adds a 560 bit guess for the table to the coded size; the
/// coded size is at least the entropy of the bytes and the end-of-block code.
fn go_stores_small(src: &[u8]) -> bool {
    if src.len() <= 32 {
        return true;
    }
    let mut freq = [0u32; 256];
    for &b in src {
        freq[usize::from(b)] += 1;
    }
    let n = (src.len() + 1) as f64;
    let entropy: f64 = freq
        .iter()
        .chain(std::iter::once(&1))
        .filter(|&&f| f > 0)
        .map(|&f| f64::from(f) * (n / f64::from(f)).log2())
        .sum();
    ((src.len() + 5) * 8) as f64 + 1e-6 <= 560.0 + entropy
}

/// Raw DEFLATE of `src` at a Go `level` (-2 to 9, -1 the default). Where Benthos's compressor
/// stores the data (level 0, or small inputs at the default level and 1 to 6) the bytes are
/// its own; elsewhere they are flate2's, which decode the same but differ in their bytes.
fn deflate_go(level: i64, src: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(src.len() + 16);
    let small = src.len() < 128 && matches!(level, -1 | 1..=6);
    if level == 0 || (small && go_stores_small(src)) {
        push_stored_blocks(&mut out, src);
        out.extend_from_slice(&GO_FINAL_BLOCK);
        return Ok(out);
    }
    let flate_level = match level {
        // Go's default is its level 5; Huffman only has no flate2 counterpart.
        -1 => 5,
        -2 => 1,
        l => l as u32,
    };
    let mut w = flate2::write::DeflateEncoder::new(out, flate2::Compression::new(flate_level));
    w.write_all(src).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())
}

fn adler32(src: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in src.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= 65_521;
        b %= 65_521;
    }
    (b << 16) | a
}

/// `src` compressed with `algorithm` at `level` (-1 for the algorithm's
/// default), the bytes Benthos's `compress` method and processor give.
pub fn compress_bytes(algorithm: &str, level: i64, src: &[u8]) -> Result<Vec<u8>, String> {
    compress_within(algorithm, level, src, &mut Steps::full())
}

/// [`compress_bytes`], the match search of lz4's high-compression levels
/// taking its work from `steps`.
fn compress_within(
    algorithm: &str,
    level: i64,
    src: &[u8],
    steps: &mut Steps,
) -> Result<Vec<u8>, String> {
    let io = |e: std::io::Error| e.to_string();
    match algorithm {
        "gzip" | "pgzip" => {
            if !(-3..=9).contains(&level) {
                return Err(format!("gzip: invalid compression level: {level}"));
            }
            let xfl = match level {
                9 => 2,
                1 => 4,
                _ => 0,
            };
            let mut out = vec![0x1f, 0x8b, 8, 0];
            out.extend_from_slice(&GO_ZERO_MTIME.to_le_bytes());
            out.extend_from_slice(&[xfl, 255]);
            out.extend_from_slice(&deflate_go(level.max(-2), src)?);
            let mut crc = crc32fast::Hasher::new();
            crc.update(src);
            out.extend_from_slice(&crc.finalize().to_le_bytes());
            out.extend_from_slice(&(src.len() as u32).to_le_bytes());
            Ok(out)
        }
        "zlib" => {
            if !(-2..=9).contains(&level) {
                return Err(format!("zlib: invalid compression level: {level}"));
            }
            let flag: u16 = match level {
                -2 | 0 | 1 => 0,
                2..=5 => 1,
                -1 | 6 => 2,
                _ => 3,
            };
            let mut header = (0x78u16 << 8) | (flag << 6);
            header += 31 - header % 31;
            let mut out = header.to_be_bytes().to_vec();
            out.extend_from_slice(&deflate_go(level, src)?);
            out.extend_from_slice(&adler32(src).to_be_bytes());
            Ok(out)
        }
        "flate" => {
            if !(-2..=9).contains(&level) {
                return Err(format!(
                    "flate: invalid compression level {level}: want value in range [-2, 9]"
                ));
            }
            deflate_go(level, src)
        }
        "snappy" => snap::raw::Encoder::new()
            .compress_vec(src)
            .map_err(|e| e.to_string()),
        "lz4" => super::lz4_go::compress_frame(src, level, steps),
        "zstd" => zstd::bulk::compress(src, if level > 0 { level as i32 } else { 3 }).map_err(io),
        other => Err(format!("compression type not recognised: {other}")),
    }
}

/// Why [`decompress_bounded`] gave no output.
#[derive(Debug)]
pub enum DecompressError {
    /// The output would pass the limit.
    TooLarge,
    /// The input is not valid for the algorithm, or the algorithm unknown.
    Failed(String),
}

/// Decompresses `src` with `algorithm` (gzip, pgzip, zlib, flate, snappy,
/// lz4 or zstd), producing at most `limit` bytes. A few bytes of compressed
/// data can stand for gigabytes: each decoder is read through `take`, one
/// byte past the limit, so that a bomb stops there instead of being
/// allocated in full; snappy states its length up front, checked before
/// the decoder allocates it.
pub fn decompress_bounded(
    algorithm: &str,
    src: &[u8],
    limit: usize,
) -> Result<Vec<u8>, DecompressError> {
    let failed = |e: std::io::Error| DecompressError::Failed(e.to_string());
    let read_bounded =
        |mut reader: Box<dyn std::io::Read + '_>| -> Result<Vec<u8>, DecompressError> {
            let mut out = Vec::new();
            (&mut reader)
                .take((limit as u64).saturating_add(1))
                .read_to_end(&mut out)
                .map_err(failed)?;
            if out.len() > limit {
                return Err(DecompressError::TooLarge);
            }
            Ok(out)
        };
    match algorithm {
        "gzip" | "pgzip" => read_bounded(Box::new(flate2::read::MultiGzDecoder::new(src))),
        "zlib" => read_bounded(Box::new(flate2::read::ZlibDecoder::new(src))),
        "flate" => read_bounded(Box::new(flate2::read::DeflateDecoder::new(src))),
        "snappy" => {
            let len = snap::raw::decompress_len(src)
                .map_err(|e| DecompressError::Failed(e.to_string()))?;
            if len > limit {
                return Err(DecompressError::TooLarge);
            }
            snap::raw::Decoder::new()
                .decompress_vec(src)
                .map_err(|e| DecompressError::Failed(e.to_string()))
        }
        "lz4" => read_bounded(Box::new(lz4_flex::frame::FrameDecoder::new(src))),
        "zstd" => read_bounded(Box::new(
            zstd::stream::read::Decoder::new(src).map_err(failed)?,
        )),
        other => Err(DecompressError::Failed(format!(
            "compression type not recognised: {other}"
        ))),
    }
}

fn decompress_bytes(algorithm: &str, src: &[u8]) -> Result<Vec<u8>, String> {
    let limit = crate::budget::max_value_bytes();
    decompress_bounded(algorithm, src, limit).map_err(|err| match err {
        DecompressError::TooLarge => {
            format!("decompress would produce more than the limit of {limit} bytes for one value")
        }
        DecompressError::Failed(err) => err,
    })
}

fn compress(v: Value, args: &[Value], steps: &mut Steps) -> Result<Value, String> {
    let algorithm = str_arg(&args[0], "algorithm")?;
    let level = int_arg(&args[1], "level")?;
    compress_within(&algorithm, level, &raw_bytes(&v)?, steps).map(Value::Bytes)
}

fn decompress(v: Value, args: &[Value]) -> Result<Value, String> {
    let algorithm = str_arg(&args[0], "algorithm")?;
    decompress_bytes(&algorithm, &raw_bytes(&v)?).map(Value::Bytes)
}

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;
type Aes192Ctr = ctr::Ctr128BE<aes::Aes192>;
type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

/// Runs AES in a stream mode (CTR or OFB), which encrypts and decrypts alike.
fn aes_stream(scheme: &str, key: &[u8], iv: &[u8], data: &mut [u8]) -> Result<(), String> {
    let bad = |e: aes::cipher::InvalidLength| format!("invalid key or iv length: {e}");
    match (scheme, key.len()) {
        ("ctr", 16) => Aes128Ctr::new_from_slices(key, iv)
            .map_err(bad)?
            .apply_keystream(data),
        ("ctr", 24) => Aes192Ctr::new_from_slices(key, iv)
            .map_err(bad)?
            .apply_keystream(data),
        ("ctr", 32) => Aes256Ctr::new_from_slices(key, iv)
            .map_err(bad)?
            .apply_keystream(data),
        ("ofb", 16) => ofb::Ofb::<aes::Aes128>::new_from_slices(key, iv)
            .map_err(bad)?
            .apply_keystream(data),
        ("ofb", 24) => ofb::Ofb::<aes::Aes192>::new_from_slices(key, iv)
            .map_err(bad)?
            .apply_keystream(data),
        ("ofb", 32) => ofb::Ofb::<aes::Aes256>::new_from_slices(key, iv)
            .map_err(bad)?
            .apply_keystream(data),
        (_, n) => return Err(format!("crypto/aes: invalid key size {n}")),
    }
    Ok(())
}

fn aes_cbc(encrypt: bool, key: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
    if !data.len().is_multiple_of(16) {
        return Err(if encrypt {
            "plaintext is not a multiple of the block size".to_owned()
        } else {
            "ciphertext is not a multiple of the block size".to_owned()
        });
    }
    let bad = |e: aes::cipher::InvalidLength| format!("invalid key or iv length: {e}");
    let mut buf = data.to_vec();
    macro_rules! run {
        ($aes:ty) => {
            if encrypt {
                cbc::Encryptor::<$aes>::new_from_slices(key, iv)
                    .map_err(bad)?
                    .encrypt_padded_mut::<aes::cipher::block_padding::NoPadding>(
                        &mut buf,
                        data.len(),
                    )
                    .map_err(|e| e.to_string())?;
            } else {
                cbc::Decryptor::<$aes>::new_from_slices(key, iv)
                    .map_err(bad)?
                    .decrypt_padded_mut::<aes::cipher::block_padding::NoPadding>(&mut buf)
                    .map_err(|e| e.to_string())?;
            }
        };
    }
    match key.len() {
        16 => run!(aes::Aes128),
        24 => run!(aes::Aes192),
        32 => run!(aes::Aes256),
        n => return Err(format!("crypto/aes: invalid key size {n}")),
    }
    Ok(buf)
}

fn aes_gcm(encrypt: bool, key: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
    if iv.len() != 12 {
        return Err(format!("gcm: invalid nonce length {}", iv.len()));
    }
    let nonce = aes_gcm::Nonce::from_slice(iv);
    let fail = |_| "cipher: message authentication failed".to_owned();
    match key.len() {
        16 => {
            let c = aes_gcm::Aes128Gcm::new_from_slice(key).map_err(|e| e.to_string())?;
            if encrypt {
                c.encrypt(nonce, data)
            } else {
                c.decrypt(nonce, data)
            }
            .map_err(fail)
        }
        32 => {
            let c = aes_gcm::Aes256Gcm::new_from_slice(key).map_err(|e| e.to_string())?;
            if encrypt {
                c.encrypt(nonce, data)
            } else {
                c.decrypt(nonce, data)
            }
            .map_err(fail)
        }
        n => Err(format!("crypto/aes: invalid key size {n}")),
    }
}

fn aes_apply(encrypt: bool, v: &Value, args: &[Value]) -> Result<Value, String> {
    let scheme = str_arg(&args[0], "scheme")?;
    let key = raw_bytes(&args[1]).map_err(|e| format!("field key: {e}"))?;
    let iv = raw_bytes(&args[2]).map_err(|e| format!("field iv: {e}"))?;
    let data = raw_bytes(v)?;
    let out = match scheme.as_str() {
        "ctr" | "ofb" => {
            if iv.len() != 16 {
                return Err(format!("invalid iv length {}, expected 16", iv.len()));
            }
            let mut buf = data;
            aes_stream(&scheme, &key, &iv, &mut buf)?;
            buf
        }
        "cbc" => aes_cbc(encrypt, &key, &iv, &data)?,
        "gcm" => aes_gcm(encrypt, &key, &iv, &data)?,
        other => return Err(format!("unrecognized encryption type: {other}")),
    };
    Ok(Value::Bytes(out))
}

fn encrypt_aes(v: Value, args: &[Value]) -> Result<Value, String> {
    aes_apply(true, &v, args)
}

fn decrypt_aes(v: Value, args: &[Value]) -> Result<Value, String> {
    aes_apply(false, &v, args)
}

/// Evaluation steps one round of bcrypt's key setup costs (measured: a
/// round takes about what this many steps of an ordinary mapping do). A
/// hash names its own cost, `2^cost` rounds, and may come with the message:
/// cost 31 would run for days, so the rounds are taken from the message's
/// steps before any is run. The default limit admits cost 13.
const STEPS_PER_BCRYPT_ROUND: u64 = 2_500;

/// The cost a bcrypt hash (`$2y$10$...`) names, when it names one.
fn bcrypt_cost(hashed: &str) -> Option<u32> {
    hashed.split('$').nth(2)?.parse().ok()
}

fn compare_bcrypt(v: Value, args: &[Value], steps: &mut Steps) -> Result<Value, String> {
    let secret = text(&v)?;
    let hashed = str_arg(&args[0], "hashed_secret")?;
    // A cost beyond bcrypt's 31 is refused by the crate before any work.
    if let Some(cost) = bcrypt_cost(&hashed).filter(|&cost| cost <= 31) {
        steps.take((1u64 << cost).saturating_mul(STEPS_PER_BCRYPT_ROUND))?;
    }
    match bcrypt::verify(secret.as_bytes(), &hashed) {
        Ok(matched) => Ok(Value::Bool(matched)),
        Err(e) => Err(format!("failed to compare bcrypt hash: {e}")),
    }
}

/// The fields of a PHC-style argon2 string: `$argon2id$v=19$m=4096,t=3,p=1$salt$key`.
struct Argon2Hash {
    algorithm: argon2::Algorithm,
    memory: u32,
    iterations: u32,
    parallelism: u32,
    salt: Vec<u8>,
    key: Vec<u8>,
}

fn decode_argon2(hashed: &str) -> Result<Argon2Hash, String> {
    use base64::Engine as _;
    let invalid = |why: &str| format!("invalid argon2 hash: {why}");
    let parts: Vec<&str> = hashed.split('$').collect();
    if parts.len() != 6 {
        return Err("invalid argon2 hash".to_owned());
    }
    let algorithm = match parts[1] {
        "argon2i" => argon2::Algorithm::Argon2i,
        "argon2id" => argon2::Algorithm::Argon2id,
        _ => return Err(invalid("unrecognised argon2 format")),
    };
    if !parts[2].starts_with("v=") {
        return Err(invalid("failed to parse version"));
    }
    let mut memory = None;
    let mut iterations = None;
    let mut parallelism = None;
    let params: Vec<&str> = parts[3].split(',').collect();
    if params.len() != 3 {
        return Err(invalid("failed to parse parameters"));
    }
    for (param, (name, slot)) in params.iter().zip([
        ("m=", &mut memory),
        ("t=", &mut iterations),
        ("p=", &mut parallelism),
    ]) {
        let digits = param
            .strip_prefix(name)
            .ok_or_else(|| invalid("failed to parse parameters"))?;
        *slot = Some(
            digits
                .parse::<u32>()
                .map_err(|_| invalid("failed to parse parameters"))?,
        );
    }
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    let salt = b64
        .decode(parts[4])
        .map_err(|_| invalid("failed to parse base64 salt"))?;
    let key = b64
        .decode(parts[5])
        .map_err(|_| invalid("failed to parse base64 key"))?;
    Ok(Argon2Hash {
        algorithm,
        memory: memory.unwrap_or_default(),
        iterations: iterations.unwrap_or_default(),
        parallelism: parallelism.unwrap_or_default(),
        salt,
        key,
    })
}

/// Evaluation steps argon2 costs for each 1 KiB block it fills in each
/// pass (measured as for [`STEPS_PER_BCRYPT_ROUND`]).
const STEPS_PER_ARGON2_BLOCK: u64 = 24;

/// Refuses an argon2 hash whose options ask for more than one message may
/// spend: a hash names its own memory and passes and may come with the
/// message, and `m=4294967295` alone would ask for 4 TiB.
fn check_argon2_cost(hashed: &Argon2Hash, steps: &mut Steps) -> Result<(), String> {
    let bytes = u64::from(hashed.memory).saturating_mul(1024);
    let limit = crate::budget::max_memory_bytes();
    if bytes > limit as u64 {
        return Err(format!(
            "the argon2 hash asks for {bytes} bytes of memory, more than the limit of {limit} bytes for one message"
        ));
    }
    let blocks = u64::from(hashed.memory).saturating_mul(u64::from(hashed.iterations));
    steps.take(blocks.saturating_mul(STEPS_PER_ARGON2_BLOCK))
}

fn compare_argon2(v: Value, args: &[Value], steps: &mut Steps) -> Result<Value, String> {
    let secret = text(&v)?;
    if secret.is_empty() {
        return Ok(Value::Bool(false));
    }
    let hashed = decode_argon2(&str_arg(&args[0], "hashed_secret")?)?;
    check_argon2_cost(&hashed, steps)?;
    let params = argon2::Params::new(
        hashed.memory,
        hashed.iterations,
        hashed.parallelism,
        Some(hashed.key.len()),
    )
    .map_err(|e| format!("invalid argon2 hash: {e}"))?;
    let hasher = argon2::Argon2::new(hashed.algorithm, argon2::Version::V0x13, params);
    let mut out = vec![0u8; hashed.key.len()];
    hasher
        .hash_password_into(secret.as_bytes(), &hashed.salt, &mut out)
        .map_err(|e| format!("invalid argon2 hash: {e}"))?;
    // Constant-time comparison, as the hash guards a secret.
    let diff = out
        .iter()
        .zip(&hashed.key)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    Ok(Value::Bool(diff == 0))
}

pub(crate) fn register(env: &mut Environment) {
    let cat = "Encoding and Encryption";
    env.method(
        "compress",
        cat,
        "Compresses bytes with gzip, pgzip, zlib, flate, snappy, lz4 or zstd.",
        vec![
            p("algorithm", Kind::Str),
            opt("level", Kind::Int, Value::Int(-1)),
        ],
        vec![
            ex(
                r#"root = content().compress("zlib").decompress("zlib").string()"#,
                &[("hello world", "hello world")],
            ),
            ex(
                r#"root.compressed = content().bytes().compress("gzip").encode("base64")"#,
                &[(
                    r#"{"message":"hello world I love space"}"#,
                    r#"{"compressed":"H4sIAAAJbogA/wAmANn/eyJtZXNzYWdlIjoiaGVsbG8gd29ybGQgSSBsb3ZlIHNwYWNlIn0DAHEvdwomAAAA"}"#,
                )],
            ),
            ex(
                "root.original_size = content().length()\nroot.gzip_size = content().compress(\"gzip\").length()",
                &[(
                    "The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy dog.",
                    r#"{"gzip_size":114,"original_size":89}"#,
                )],
            ),
        ],
        MethodImpl::Metered(compress),
    );
    env.method(
        "decompress",
        cat,
        "Decompresses bytes compressed with gzip, pgzip, zlib, flate, snappy, lz4 or zstd.",
        vec![p("algorithm", Kind::Str)],
        vec![
            ex(
                r#"root = content().compress("lz4").decompress("lz4").string()"#,
                &[("hello world I love space", "hello world I love space")],
            ),
            ex(
                r#"root.message = this.compressed.decode("base64").decompress("gzip").string()"#,
                &[(
                    r#"{"compressed":"H4sIAN12MWkAA8tIzcnJVyjPL8pJUfBUyMkvS1UoLkhMTgUAQpDxbxgAAAA="}"#,
                    r#"{"message":"hello world I love space"}"#,
                )],
            ),
        ],
        MethodImpl::Simple(decompress),
    );
    env.method(
        "encrypt_aes",
        cat,
        "Encrypts bytes with AES in ctr, ofb, cbc (no padding) or gcm mode.",
        vec![p("scheme", Kind::Str), p("key", Kind::Any), p("iv", Kind::Any)],
        vec![ex(
            "let key = \"2b7e151628aed2a6abf7158809cf4f3c\".decode(\"hex\")\nlet vector = \"f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff\".decode(\"hex\")\nroot.encrypted = this.value.encrypt_aes(\"ctr\", $key, $vector).encode(\"hex\")",
            &[(
                r#"{"value":"hello world!"}"#,
                r#"{"encrypted":"84e9b31ff7400bdf80be7254"}"#,
            )],
        )],
        MethodImpl::Simple(encrypt_aes),
    );
    env.method(
        "decrypt_aes",
        cat,
        "Decrypts bytes encrypted with AES in ctr, ofb, cbc (no padding) or gcm mode.",
        vec![p("scheme", Kind::Str), p("key", Kind::Any), p("iv", Kind::Any)],
        vec![ex(
            "let key = \"2b7e151628aed2a6abf7158809cf4f3c\".decode(\"hex\")\nlet vector = \"f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff\".decode(\"hex\")\nroot.decrypted = this.value.decode(\"hex\").decrypt_aes(\"ctr\", $key, $vector).string()",
            &[(
                r#"{"value":"84e9b31ff7400bdf80be7254"}"#,
                r#"{"decrypted":"hello world!"}"#,
            )],
        )],
        MethodImpl::Simple(decrypt_aes),
    );
    let cat = "String Manipulation";
    env.method(
        "compare_bcrypt",
        cat,
        "Checks whether a string matches a bcrypt hash.",
        vec![p("hashed_secret", Kind::Str)],
        vec![ex(
            r#"root.match = this.secret.compare_bcrypt("$2y$10$Dtnt5NNzVtMCOZONT705tOcS8It6krJX8bEjnDJnwxiFKsz1C.3Ay")"#,
            &[
                (
                    r#"{"secret":"there-are-many-blobs-in-the-sea"}"#,
                    r#"{"match":true}"#,
                ),
                (r#"{"secret":"will-i-ever-find-love"}"#, r#"{"match":false}"#),
            ],
        )],
        MethodImpl::Metered(compare_bcrypt),
    );
    env.method(
        "compare_argon2",
        cat,
        "Checks whether a string matches an argon2 hash that encodes its own options.",
        vec![p("hashed_secret", Kind::Str)],
        vec![ex(
            r#"root.match = this.secret.compare_argon2("$argon2id$v=19$m=4096,t=3,p=1$c2FsdHktbWNzYWx0ZmFjZQ$RMUMwgtS32/mbszd+ke4o4Ej1jFpYiUqY6MHWa69X7Y")"#,
            &[
                (
                    r#"{"secret":"there-are-many-blobs-in-the-sea"}"#,
                    r#"{"match":true}"#,
                ),
                (r#"{"secret":"will-i-ever-find-love"}"#, r#"{"match":false}"#),
            ],
        )],
        MethodImpl::Metered(compare_argon2),
    );
}

#[cfg(test)]
mod tests {
    use crate::testing::map_one;

    fn b64(mapping: &str, input: &str) -> String {
        map_one(mapping, input).expect("mapping runs")
    }

    #[test]
    fn compressed_bytes_are_benthos_s_where_it_stores_them() {
        // Go's gzip header: no name, the zero time's low bits, level flag, OS 255.
        assert_eq!(
            b64(r#"root = content().compress("gzip").encode("hex")"#, ""),
            "1f8b080000096e8800ff03000000000000000000"
        );
        assert_eq!(
            b64(
                r#"root = content().compress("gzip", 5).encode("hex")"#,
                "hi"
            ),
            "1f8b080000096e8800ff000200fdff68690300ac2a93d802000000"
        );
        assert_eq!(
            b64(
                r#"root = content().compress("gzip", 9).slice(8, 10).encode("hex")"#,
                "hi"
            ),
            "02ff"
        );
        assert_eq!(
            b64(
                r#"root = content().compress("gzip", 1).slice(8, 10).encode("hex")"#,
                "hi"
            ),
            "04ff"
        );
        assert_eq!(
            b64(
                r#"root = content().compress("zlib").encode("hex")"#,
                "hello world"
            ),
            "789c000b00f4ff68656c6c6f20776f726c6403001a0b045d"
        );
        assert_eq!(
            b64(
                r#"root = content().compress("zlib", 1).slice(0, 2).encode("hex")"#,
                "x"
            ),
            "7801"
        );
        assert_eq!(
            b64(
                r#"root = content().compress("zlib", 9).slice(0, 2).encode("hex")"#,
                "x"
            ),
            "78da"
        );
        assert_eq!(
            b64(r#"root = content().compress("flate").encode("hex")"#, "abc"),
            "000300fcff6162630300"
        );
        // Level 0 stores blocks of at most 65535 bytes.
        let big = "a".repeat(70_000);
        let stored = b64(
            r#"root = content().compress("flate", 0).encode("hex")"#,
            &big,
        );
        assert!(stored.starts_with("00ffff0000"), "{}", &stored[..10]);
        assert_eq!(&stored[10 + 65_535 * 2..10 + 65_535 * 2 + 10], "0071118eee");
        assert!(stored.ends_with("0300"));
        // Larger inputs are compressed, and come back as they were.
        assert_eq!(
            b64(
                r#"root = content().compress("gzip").decompress("gzip").string()"#,
                &big
            ),
            big
        );
    }

    #[test]
    fn compression_levels_and_names_fail_as_in_benthos() {
        assert_eq!(
            map_one(r#"root = content().compress("gzip", 10)"#, "x").unwrap_err(),
            "failed assignment (line 1): gzip: invalid compression level: 10"
        );
        assert_eq!(
            map_one(r#"root = content().compress("zlib", -3)"#, "x").unwrap_err(),
            "failed assignment (line 1): zlib: invalid compression level: -3"
        );
        assert_eq!(
            map_one(r#"root = content().compress("flate", 12)"#, "x").unwrap_err(),
            "failed assignment (line 1): flate: invalid compression level 12: want value in range [-2, 9]"
        );
        assert_eq!(
            map_one(r#"root = content().compress("nope")"#, "x").unwrap_err(),
            "failed assignment (line 1): compression type not recognised: nope"
        );
    }
}
