//! Runs the weather mapping of the benchmark N times (parse the body, map, serialise), for
//! counting instructions per message with callgrind: see bench/bloblang_instructions.py.

use sluice_bloblang::{Mapping, MessageRef as _, Root, SimpleMessage};

// The binary runs on mimalloc; count with the allocator it ships with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const WEATHER: &str = r#"root = { city: json("location"), forecast: "Clear skies with light winds", temperature_c: 22 }"#;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .expect("usage: weather_loop ITERATIONS");
    let mapping = Mapping::parse(WEATHER).expect("weather mapping parses");
    let mut total = 0;
    for _ in 0..n {
        let msg = [SimpleMessage::new(&b"{\"location\":\"Berlin\"}"[..])];
        let out = mapping.exec(&msg[..], 0).expect("weather mapping runs");
        let bytes = match out.root {
            Root::Value(v) => v.to_message_bytes(),
            Root::Deleted => Vec::new(),
            Root::Nothing => msg[0].content().to_vec(),
        };
        total += std::hint::black_box(bytes).len();
    }
    println!("{total}");
}
