//! Parse and execution costs of representative mappings.

use criterion::{Criterion, criterion_group, criterion_main};
use sluice_bloblang::{Interpolation, Mapping, MappingOutput, Root, SimpleMessage};

#[path = "fixtures/heavy.rs"]
mod heavy;
use heavy::{HEAVY, heavy_input};

// The binary runs on mimalloc; measure with the allocator it ships with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SEEDS: &[&str] = &[
    r#"root = { city: json("location"), forecast: "Clear skies with light winds", temperature_c: 22 }"#,
    "root = content().uppercase()",
    r#"root = "%v baz".format(content().string())"#,
    r#"root = "Received weather report for %s".format(json("location"))"#,
    "root.reported_at = now()",
    r#"root = {"status": "received", "received_at": now()}"#,
    "root = this.missing.uppercase()",
    "root = @id",
    r#"root = {"foo": metadata("X-Foo"), "name": @name, "verb": @http_server_verb}"#,
    r#"meta status = "201""#,
    r#"root = meta("status").or("200")"#,
    "root = deleted()",
];

fn output_bytes(out: MappingOutput, input: &SimpleMessage) -> Vec<u8> {
    use sluice_bloblang::MessageRef as _;
    match out.root {
        Root::Value(v) => v.to_message_bytes(),
        Root::Deleted => Vec::new(),
        Root::Nothing => input.content().to_vec(),
    }
}

fn bench(c: &mut Criterion) {
    c.bench_function("parse_seed_mappings", |b| {
        b.iter(|| {
            for m in SEEDS {
                std::hint::black_box(Mapping::parse(m).expect("seed mappings parse"));
            }
        });
    });

    let weather = Mapping::parse(SEEDS[0]).expect("weather mapping parses");
    c.bench_function("exec_weather_with_io", |b| {
        b.iter(|| {
            let msg = [SimpleMessage::new(&b"{\"location\":\"Berlin\"}"[..])];
            let out = weather.exec(&msg[..], 0).expect("weather mapping runs");
            std::hint::black_box(output_bytes(out, &msg[0]))
        });
    });

    let heavy = Mapping::parse(HEAVY).expect("heavy mapping parses");
    let input = heavy_input();
    assert!(input.len() > 1500, "document is {} bytes", input.len());
    c.bench_function("exec_heavy_2kb_20_statements", |b| {
        b.iter(|| {
            let msg = [SimpleMessage::new(input.clone())];
            let out = heavy.exec(&msg[..], 0).expect("heavy mapping runs");
            std::hint::black_box(output_bytes(out, &msg[0]))
        });
    });

    let interp = Interpolation::parse(r#"${! json("location") } at ${! content().length() }"#)
        .expect("parses");
    c.bench_function("render_interpolation", |b| {
        b.iter(|| {
            let msg = [SimpleMessage::new(&b"{\"location\":\"Berlin\"}"[..])];
            std::hint::black_box(interp.render(&msg[..], 0).expect("renders"))
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
