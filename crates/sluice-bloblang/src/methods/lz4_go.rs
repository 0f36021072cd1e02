//! LZ4 frames as Benthos's `compress("lz4")` writes them: the frame writer of
//! the Go package pierrec/lz4 (v4) with its defaults, so that the bytes, and
//! their length, are the same.
//!
//! Written here rather than taken from the `lz4_flex` crate (which still reads
//! every frame, ours included): its block compressor finds other matches, and
//! its frames use other defaults, so its output is valid LZ4 but not
//! Benthos's bytes. What the Go writer does, and so what this does:
//! - a frame header with version 1, independent blocks, a content checksum
//!   and 4 MiB blocks;
//! - the input cut into 4 MiB blocks, each compressed with the fast
//!   compressor (level 0 or less, and levels from 24 up, which Go's
//!   `1 << (8 + level)` in 32 bits turns into 0) or with the high-compression
//!   one searching `1 << (8 + level)` candidates (levels 1 to 9), and stored
//!   as it is when compressing does not make it shorter;
//! - an end mark and the xxHash32 of the whole input.

use crate::budget::Steps;

/// Shortest match the format can express.
const MIN_MATCH: usize = 4;
/// How far back a match may start.
const WINDOW: usize = 1 << 16;
/// Entries in the compressors' hash tables.
const HASH_LOG: u32 = 16;
const TABLE_SIZE: usize = 1 << HASH_LOG;
/// No match starts within this many bytes of a block's end.
const MATCH_FIND_LIMIT: usize = 10 + MIN_MATCH;
/// After this many bytes without a match (shifted), the search skips ahead.
const ADAPT_SKIP_LOG: usize = 7;
/// The writer's default block size, and its index in the frame header.
const BLOCK_SIZE: usize = 4 << 20;
const BLOCK_SIZE_INDEX: u8 = 7;
const FRAME_MAGIC: u32 = 0x184D_2204;
/// Set on a block's size when the block is stored uncompressed.
const STORED: u32 = 1 << 31;

/// `src` as an LZ4 frame, compressed at Benthos's `level`. The
/// high-compression search takes its work from `steps`.
pub(crate) fn compress_frame(src: &[u8], level: i64, steps: &mut Steps) -> Result<Vec<u8>, String> {
    let depth = search_depth(level)?;
    // Version 1, independent blocks, content checksum; then the block size.
    let descriptor = [1 << 6 | 1 << 5 | 1 << 2, BLOCK_SIZE_INDEX << 4];
    let mut out = Vec::with_capacity(src.len() + 32);
    out.extend_from_slice(&FRAME_MAGIC.to_le_bytes());
    out.extend_from_slice(&descriptor);
    out.push((xxhash_rust::xxh32::xxh32(&descriptor, 0) >> 8) as u8);
    for block in src.chunks(BLOCK_SIZE) {
        let compressed = match depth {
            None => compress_block_fast(block),
            Some(depth) => compress_block_hc(block, depth, steps)?,
        };
        match compressed {
            Some(data) => {
                out.extend_from_slice(&(data.len() as u32).to_le_bytes());
                out.extend_from_slice(&data);
            }
            None => {
                out.extend_from_slice(&(block.len() as u32 | STORED).to_le_bytes());
                out.extend_from_slice(block);
            }
        }
    }
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&xxhash_rust::xxh32::xxh32(src, 0).to_le_bytes());
    Ok(out)
}

/// The high-compression search depth a Benthos level asks for, or `None` for
/// the fast compressor. Benthos passes `1 << (8 + level)` as a 32-bit
/// compression level, which the Go writer accepts only as 0 or 2^9..2^17.
fn search_depth(level: i64) -> Result<Option<usize>, String> {
    if level <= 0 {
        return Ok(None);
    }
    if level >= 24 {
        return Ok(None);
    }
    let value = 1u32 << (8 + level);
    if (1..=9).contains(&level) {
        Ok(Some(value as usize))
    } else {
        Err(format!("lz4: invalid compression level: {value}"))
    }
}

fn load_u32(src: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(src[at..at + 4].try_into().expect("four bytes"))
}

fn load_u64(src: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(src[at..at + 8].try_into().expect("eight bytes"))
}

/// A block's compressed bytes, never longer than the block itself: the Go
/// compressor writes into a buffer of the input's size and gives up (the
/// block is then stored) when that would overflow.
struct BoundedOutput {
    bytes: Vec<u8>,
    limit: usize,
}

/// The compressed form would not be shorter than the input.
struct Overflow;

impl BoundedOutput {
    fn new(limit: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(limit),
            limit,
        }
    }

    fn push(&mut self, byte: u8) -> Result<(), Overflow> {
        if self.bytes.len() >= self.limit {
            return Err(Overflow);
        }
        self.bytes.push(byte);
        Ok(())
    }

    fn extend(&mut self, bytes: &[u8]) -> Result<(), Overflow> {
        if self.bytes.len() + bytes.len() > self.limit {
            return Err(Overflow);
        }
        self.bytes.extend_from_slice(bytes);
        Ok(())
    }

    /// One sequence: a token, the literals' length beyond 15, the literals,
    /// the match offset and the match length (less the minimum) beyond 15.
    fn sequence(
        &mut self,
        literals: &[u8],
        offset: usize,
        match_extra: usize,
    ) -> Result<(), Overflow> {
        self.token_and_literals(literals, match_extra.min(0xF) as u8)?;
        self.extend(&(offset as u16).to_le_bytes())?;
        if match_extra >= 0xF {
            self.length_tail(match_extra - 0xF)?;
        }
        Ok(())
    }

    fn token_and_literals(&mut self, literals: &[u8], low: u8) -> Result<(), Overflow> {
        self.token(literals.len(), low)?;
        self.extend(literals)
    }

    /// A token (the literals' length high, `low` low) and the rest of the
    /// literals' length beyond 15.
    fn token(&mut self, literal_len: usize, low: u8) -> Result<(), Overflow> {
        self.push((literal_len.min(0xF) as u8) << 4 | low)?;
        if literal_len >= 0xF {
            self.length_tail(literal_len - 0xF)?;
        }
        Ok(())
    }

    fn length_tail(&mut self, mut rest: usize) -> Result<(), Overflow> {
        while rest >= 0xFF {
            self.push(0xFF)?;
            rest -= 0xFF;
        }
        self.push(rest as u8)
    }

    /// The block's last literals, if the whole is still shorter than `src`.
    fn finish(mut self, src: &[u8], anchor: usize) -> Option<Vec<u8>> {
        let literals = &src[anchor..];
        self.token(literals.len(), 0).ok()?;
        // Go gives up once the sequences written reach the input consumed.
        if self.bytes.len() >= anchor {
            return None;
        }
        self.extend(literals).ok()?;
        Some(self.bytes)
    }
}

/// The fast compressor's hash of a position's next six bytes.
fn hash6(x: u64) -> usize {
    const PRIME_6_BYTES: u64 = 227_718_039_650_203;
    ((x << 16).wrapping_mul(PRIME_6_BYTES) >> (64 - HASH_LOG)) as usize
}

/// The fast compressor's table: the low 16 bits of the last position seen
/// per hash, read back relative to the current 64 KiB boundary (or the one
/// before). A fresh table reads 0 everywhere, so it offers the window's
/// start as a candidate, as Go's does.
struct FastTable([u16; TABLE_SIZE]);

impl FastTable {
    fn get(&self, hash: usize, si: usize) -> isize {
        let mut i = (self.0[hash] as usize + (si & !(WINDOW - 1))) as isize;
        if i >= si as isize {
            i -= WINDOW as isize;
        }
        i
    }

    fn put(&mut self, hash: usize, si: usize) {
        self.0[hash] = si as u16;
    }
}

/// Whether position `candidate` starts the same four bytes as `bytes`, within
/// the window before `si`; the offset if so.
fn fast_candidate(src: &[u8], si: usize, candidate: isize, bytes: u32) -> Option<usize> {
    let offset = si as isize - candidate;
    if offset <= 0 || offset >= WINDOW as isize || candidate < 0 {
        return None;
    }
    (load_u32(src, candidate as usize) == bytes).then_some(offset as usize)
}

/// Where the search for matches stops in `src`, or `None` when `src` is
/// too short for any match.
fn search_end(src: &[u8]) -> Option<usize> {
    src.len().checked_sub(MATCH_FIND_LIMIT).filter(|&n| n > 0)
}

fn compress_block_fast(src: &[u8]) -> Option<Vec<u8>> {
    // Too short to hold a match: stored.
    let search_end = search_end(src)?;
    let mut out = BoundedOutput::new(src.len());
    let mut table = Box::new(FastTable([0; TABLE_SIZE]));
    let (mut si, mut anchor) = (0usize, 0usize);
    while si < search_end {
        // Candidates at si, si+1 and si+2, from one load of the next bytes.
        let next = load_u64(src, si);
        let (h, h2) = (hash6(next), hash6(next >> 8));
        let candidate = table.get(h, si);
        let candidate2 = table.get(h2, si + 1);
        table.put(h, si);
        table.put(h2, si + 1);
        let offset = match fast_candidate(src, si, candidate, next as u32) {
            Some(offset) => offset,
            None => {
                let h3 = hash6(next >> 16);
                let candidate3 = table.get(h3, si + 2);
                si += 1;
                match fast_candidate(src, si, candidate2, (next >> 8) as u32) {
                    Some(offset) => offset,
                    None => {
                        si += 1;
                        table.put(h3, si);
                        match fast_candidate(src, si, candidate3, (next >> 16) as u32) {
                            Some(offset) => offset,
                            None => {
                                si += 2 + ((si - anchor) >> ADAPT_SKIP_LOG);
                                continue;
                            }
                        }
                    }
                }
            }
        };
        // Extend the match backwards over the literals.
        let found = si;
        let mut match_start = si;
        let mut literals = si - anchor;
        let mut back = si as isize - offset as isize - 1;
        while literals > 0 && back >= 0 && src[match_start - 1] == src[back as usize] {
            match_start -= 1;
            back -= 1;
            literals -= 1;
        }
        // Then forwards from the four bytes found, eight at a time, not past
        // the search end (where the eight-byte steps stop depends on where
        // they start, so this starts where Go's does).
        si = found + MIN_MATCH;
        while si + 8 <= search_end {
            let diff = load_u64(src, si) ^ load_u64(src, si - offset);
            if diff == 0 {
                si += 8;
            } else {
                si += (diff.trailing_zeros() >> 3) as usize;
                break;
            }
        }
        let match_extra = si - match_start - MIN_MATCH;
        out.sequence(&src[anchor..anchor + literals], offset, match_extra)
            .ok()?;
        anchor = si;
        if si >= search_end {
            break;
        }
        table.put(hash6(load_u64(src, si - 2)), si - 2);
    }
    if anchor == 0 {
        // No match at all: stored.
        return None;
    }
    out.finish(src, anchor)
}

/// The high-compression compressor's hash of four bytes.
fn hash4(x: u32) -> usize {
    (x.wrapping_mul(2_654_435_761) >> (32 - HASH_LOG)) as usize
}

/// Hash heads and chains of earlier positions, as the Go compressor keeps
/// them: position 0 doubles as "none", so it is never a candidate.
struct ChainTables {
    heads: Vec<usize>,
    chain: Vec<usize>,
}

impl ChainTables {
    fn insert(&mut self, hash: usize, si: usize) {
        self.chain[si & (WINDOW - 1)] = self.heads[hash];
        self.heads[hash] = si;
    }
}

/// The length of the common run at `a` and `b`, compared eight bytes at a
/// time while `a` is before `limit` (so it may run up to seven bytes past).
fn common_length(src: &[u8], a: usize, b: usize, limit: usize) -> usize {
    let mut length = 0;
    while length < limit {
        let diff = load_u64(src, b + length) ^ load_u64(src, a + length);
        if diff != 0 {
            return length + (diff.trailing_zeros() >> 3) as usize;
        }
        length += 8;
    }
    length
}

/// Candidates the high-compression search compares for about the cost of one
/// evaluation step: a deep search over a long block of repetitive text
/// compares tens of thousands per position, so the search takes its work
/// from the message's evaluation steps ([`Steps`]) rather than running for
/// seconds where the step limit cannot see it.
const TRIES_PER_STEP: u64 = 4;
/// Tries counted before they are spent, so the spending stays off the
/// search's inner loop.
const TRIES_PER_SPEND: u64 = TRIES_PER_STEP << 12;

/// `src` compressed by the high-compression search, `None` when it would
/// not be shorter; an error when the search runs out of its allowance.
fn compress_block_hc(
    src: &[u8],
    depth: usize,
    steps: &mut Steps,
) -> Result<Option<Vec<u8>>, String> {
    // Too short to hold a match: stored (Go writes the last literals' token
    // and then finds it no shorter).
    let Some(search_end) = search_end(src) else {
        return Ok(None);
    };
    let mut tried = 0u64;
    let mut out = BoundedOutput::new(src.len());
    let mut tables = ChainTables {
        heads: vec![0; TABLE_SIZE],
        chain: vec![0; TABLE_SIZE],
    };
    let (mut si, mut anchor) = (0usize, 0usize);
    while si < search_end {
        let mut bytes = load_u32(src, si);
        let h = hash4(bytes);
        // The longest match among up to `depth` earlier positions.
        let (mut best, mut offset) = (0usize, 0usize);
        let (mut next, mut tries) = (tables.heads[h], depth);
        while tries > 0 && next > 0 && next < si && si - next < WINDOW {
            if src[next + best] == src[si + best] {
                let length = common_length(src, si, next, search_end - si);
                if length >= MIN_MATCH && length > best {
                    best = length;
                    offset = si - next;
                }
            }
            next = tables.chain[next & (WINDOW - 1)];
            tries -= 1;
        }
        // The position itself counts as one try.
        tried += (depth - tries) as u64 + 1;
        if tried >= TRIES_PER_SPEND {
            steps.take(tried / TRIES_PER_STEP)?;
            tried %= TRIES_PER_STEP;
        }
        tables.insert(h, si);
        if best == 0 {
            si += 1 + ((si - anchor) >> ADAPT_SKIP_LOG);
            continue;
        }
        // Every position the match covers goes into the tables too.
        let covered = (si + 1).max((si + best).saturating_sub(WINDOW))..si + best;
        for at in covered {
            bytes = bytes >> 8 | u32::from(src[at + 3]) << 24;
            tables.insert(hash4(bytes), at);
        }
        let literals = &src[anchor..si];
        si += best;
        if out.sequence(literals, offset, best - MIN_MATCH).is_err() {
            return Ok(None);
        }
        anchor = si;
    }
    if anchor == 0 {
        return Ok(None);
    }
    Ok(out.finish(src, anchor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn decode(frame: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        lz4_flex::frame::FrameDecoder::new(frame)
            .read_to_end(&mut out)
            .expect("a valid frame");
        out
    }

    const FOX: &[u8] = b"The quick brown fox jumps over the lazy dog. \
The quick brown fox jumps over the lazy dog.";

    #[test]
    fn the_documented_sentence_compresses_to_benthos_length() {
        // Benthos's own example gives 85 bytes for these 89.
        let frame = compress_frame(FOX, -1, &mut Steps::full()).unwrap();
        assert_eq!(frame.len(), 85);
        assert_eq!(decode(&frame), FOX);
    }

    #[test]
    fn the_header_carries_the_go_writers_defaults() {
        let frame = compress_frame(b"", -1, &mut Steps::full()).unwrap();
        // Magic, FLG (version 1, independent blocks, content checksum),
        // BD (4 MiB), header checksum; then the end mark and the checksum
        // of no bytes.
        assert_eq!(&frame[..6], &[0x04, 0x22, 0x4d, 0x18, 0x64, 0x70]);
        assert_eq!(frame.len(), 7 + 4 + 4);
        assert_eq!(&frame[7..11], &[0; 4]);
        assert_eq!(&frame[11..], &0x02CC_5D05u32.to_le_bytes());
        assert!(decode(&frame).is_empty());
    }

    #[test]
    fn short_or_incompressible_blocks_are_stored() {
        let frame = compress_frame(b"hello", -1, &mut Steps::full()).unwrap();
        assert_eq!(&frame[7..11], &(5u32 | STORED).to_le_bytes());
        assert_eq!(&frame[11..16], b"hello");
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 32) as u8
            })
            .collect();
        for level in [-1, 0, 5] {
            let frame = compress_frame(&noise, level, &mut Steps::full()).unwrap();
            assert_eq!(&frame[7..11], &(noise.len() as u32 | STORED).to_le_bytes());
            assert_eq!(decode(&frame), noise);
        }
    }

    #[test]
    fn every_level_round_trips_and_higher_levels_search_harder() {
        let mut text = Vec::new();
        for i in 0..2000 {
            text.extend_from_slice(
                format!("line {} of {} says {}\n", i % 37, i % 11, i).as_bytes(),
            );
        }
        let fast = compress_frame(&text, 0, &mut Steps::full()).unwrap();
        assert_eq!(decode(&fast), text);
        let mut previous = usize::MAX;
        for level in 1..=9 {
            let frame = compress_frame(&text, level, &mut Steps::full()).unwrap();
            assert_eq!(decode(&frame), text, "level {level}");
            assert!(frame.len() <= previous, "level {level}");
            previous = frame.len();
        }
        assert!(previous < fast.len());
    }

    #[test]
    fn inputs_past_one_block_are_cut_at_four_mebibytes() {
        let data: Vec<u8> = (0..BLOCK_SIZE + 1000).map(|i| (i % 251) as u8).collect();
        let frame = compress_frame(&data, -1, &mut Steps::full()).unwrap();
        assert_eq!(decode(&frame), data);
        let first = u32::from_le_bytes(frame[7..11].try_into().unwrap()) & !STORED;
        let second_at = 11 + first as usize;
        let second = u32::from_le_bytes(frame[second_at..second_at + 4].try_into().unwrap());
        assert!(second & STORED == 0 && second > 0);
    }

    #[test]
    fn inputs_of_every_shape_round_trip_at_every_level() {
        // Runs of a few symbols, so that matches of every length and offset
        // and literal runs of every length occur, around the 14-byte and
        // 15/255-length boundaries too.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for case in 0..80 {
            let len = (next() % 3000) as usize + case % 20;
            let alphabet = 1 + next() % 6;
            let mut data = Vec::with_capacity(len);
            while data.len() < len {
                let run = (next() % 300) as usize;
                let byte = b'a' + (next() % alphabet) as u8;
                data.extend(std::iter::repeat_n(byte, run.min(len - data.len())));
            }
            for level in [-1, 1, 9] {
                let frame = compress_frame(&data, level, &mut Steps::full()).unwrap();
                assert_eq!(decode(&frame), data, "case {case} level {level}");
            }
        }
    }

    #[test]
    fn levels_follow_go_s_thirty_two_bit_shift() {
        assert_eq!(search_depth(-1).unwrap(), None);
        assert_eq!(search_depth(1).unwrap(), Some(512));
        assert_eq!(search_depth(9).unwrap(), Some(1 << 17));
        assert_eq!(
            search_depth(10).unwrap_err(),
            "lz4: invalid compression level: 262144"
        );
        assert_eq!(search_depth(24).unwrap(), None);
        assert_eq!(search_depth(i64::MAX).unwrap(), None);
    }
}
