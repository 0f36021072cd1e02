//! Runs the heavy mapping of the benchmark N times (parse the 2 KB body, map, serialise), for
//! counting instructions per message with callgrind: see bench/bloblang_instructions.py.

use sluice_bloblang::{Mapping, MessageRef as _, Root, SimpleMessage};

#[path = "../benches/fixtures/heavy.rs"]
mod heavy;

// The binary runs on mimalloc; count with the allocator it ships with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .expect("usage: heavy_loop ITERATIONS");
    let mapping = Mapping::parse(heavy::HEAVY).expect("heavy mapping parses");
    let input = heavy::heavy_input();
    let mut total = 0;
    for _ in 0..n {
        let msg = [SimpleMessage::new(input.clone())];
        let out = mapping.exec(&msg[..], 0).expect("heavy mapping runs");
        let bytes = match out.root {
            Root::Value(v) => v.to_message_bytes(),
            Root::Deleted => Vec::new(),
            Root::Nothing => msg[0].content().to_vec(),
        };
        total += std::hint::black_box(bytes).len();
    }
    println!("{total}");
}
