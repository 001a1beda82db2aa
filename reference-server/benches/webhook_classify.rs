//! Cost of classifying a webhook body on the webhook endpoint's hot path (`classify`: depth
//! check, one borrowed parse of the whole body, the changelog's key items), on the 11 KB perf
//! fixture (`tests/fixtures/issue_updated_large.json`) with and without its changelog; and of
//! classifying it and writing what the inbox stores of it (`inbox_form`).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use reference_server::webhook::{classify, inbox_form};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let fixture = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/issue_updated_large.json"
    ))
    .expect("perf fixture");
    // Both bodies compact, as Jira and the load harness send them.
    let mut value: serde_json::Value = serde_json::from_slice(&fixture).expect("fixture is JSON");
    let with = serde_json::to_vec(&value).expect("serialise");
    if let Some(map) = value.as_object_mut() {
        map.remove("changelog");
    }
    let without = serde_json::to_vec(&value).expect("serialise");
    let mut group = c.benchmark_group("webhook_classify");
    group.throughput(Throughput::Bytes(with.len() as u64));
    group.bench_function("large_with_changelog", |b| {
        b.iter(|| classify(black_box(&with)));
    });
    group.bench_function("large_inbox_form", |b| {
        b.iter(|| inbox_form(black_box(&with)).map(|stored| stored.len()));
    });
    group.throughput(Throughput::Bytes(without.len() as u64));
    group.bench_function("large_without_changelog", |b| {
        b.iter(|| classify(black_box(&without)));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
