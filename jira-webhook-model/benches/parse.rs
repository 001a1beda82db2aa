//! Parsing an 11 KB realistic DC `jira:issue_updated` delivery (one assignee change, 4.7 KB
//! description, 22 custom fields) four ways in one group: `serde_json::Value`, this crate's
//! typed `WebhookEvent`, its `LeanEvent` view, and `serde::de::IgnoredAny` (the floor: syntax check only).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jira_webhook_model::{LeanEvent, WebhookEvent};

const BODY: &[u8] = include_bytes!("../tests/fixtures/own/issue_updated_large.json");

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_issue_updated_11kb");
    group.throughput(Throughput::Bytes(BODY.len() as u64));
    group.bench_function("serde_json_value", |b| {
        b.iter(|| black_box(serde_json::from_slice::<serde_json::Value>(black_box(BODY))));
    });
    group.bench_function("webhook_event", |b| {
        b.iter(|| black_box(WebhookEvent::from_slice(black_box(BODY))));
    });
    group.bench_function("lean_event", |b| {
        b.iter(|| black_box(LeanEvent::from_slice(black_box(BODY))));
    });
    group.bench_function("ignored_any", |b| {
        b.iter(|| {
            black_box(serde_json::from_slice::<serde::de::IgnoredAny>(black_box(
                BODY,
            )))
        });
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
