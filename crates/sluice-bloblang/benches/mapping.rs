//! Parse and execution costs of representative mappings.

use criterion::{Criterion, criterion_group, criterion_main};
use sluice_bloblang::{Interpolation, Mapping, MappingOutput, Root, SimpleMessage};

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

const HEAVY: &str = r#"
root.id = this.id
root.user.name = this.user.first_name + " " + this.user.last_name
root.user.email = this.user.email.lowercase()
root.user.age = this.user.age.number()
root.user.adult = this.user.age.number() >= 18
root.tags = this.tags.map_each(t -> t.uppercase())
root.tag_count = this.tags.length()
root.items = this.items.filter(i -> i.qty > 0).map_each(i -> {"sku": i.sku, "total": i.qty * i.price})
root.total = this.items.fold(0, acc -> acc.tally + acc.value.qty * acc.value.price)
root.first_item = this.items.index(0).sku
root.skus = this.items.map_each(i -> i.sku).sort()
root.address = "%s, %s %s".format(this.address.street, this.address.zip, this.address.city)
root.country = this.address.country.or("unknown")
root.status = match this.status { "A" => "active", "I" => "inactive", _ => "unknown" }
root.priority = if this.priority > 5 { "high" } else { "low" }
root.note = this.note.trim().catch("")
root.score = (this.score * 100).round()
root.has_discount = this.discount.exists("code")
meta kind = "order"
root.summary = this.description.slice(0, 32)
"#;

fn heavy_input() -> Vec<u8> {
    let mut items = Vec::new();
    for i in 0..12 {
        items.push(format!(r#"{{"sku":"SKU-{i:04}","qty":{},"price":{}.25,"name":"Item number {i} with a long descriptive name"}}"#, i % 4, i + 3));
    }
    let doc = format!(
        r#"{{"id":"ord-123456","user":{{"first_name":"Ada","last_name":"Lovelace","email":"Ada@Example.COM","age":"36"}},"tags":["alpha","beta","gamma","delta"],"items":[{}],"address":{{"street":"1 Analytical Way","zip":"12345","city":"London"}},"status":"A","priority":7,"note":"  handle with care  ","score":0.87654,"discount":{{"code":"SAVE10"}},"description":"An order placed for a number of items, described in some detail so that the document is large enough to be representative."}}"#,
        items.join(",")
    );
    doc.into_bytes()
}

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
