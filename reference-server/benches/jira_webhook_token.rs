//! Cost of the webhook URL token on the webhook endpoint's hot path: reading the unverified
//! `id` claim (`peek_id`), the full HS256 verification (`verify`), the handler's
//! peek-then-verify, and issuing a token.
//! The Sentry-shaped token (`{"id": "<host>:<consumer key>"}`) with a 64-hex-character key.

use criterion::{Criterion, criterion_group, criterion_main};
use reference_server::jira::webhook_token::{self, WebhookSecret};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let secret = WebhookSecret::generate().expect("OS random source");
    let id = "jira.example.com:sentry-bot";
    let token = webhook_token::issue(id, secret.key());
    let mut group = c.benchmark_group("webhook_token");
    group.bench_function("peek_id", |b| {
        b.iter(|| webhook_token::peek_id(black_box(&token)));
    });
    group.bench_function("verify", |b| {
        b.iter(|| webhook_token::verify(black_box(&token), black_box(secret.key())));
    });
    // What the webhook handler does: peek the id, (look the integration up,) verify.
    group.bench_function("peek_then_verify", |b| {
        b.iter(|| {
            webhook_token::peek(black_box(&token)).and_then(|p| p.verify(black_box(secret.key())))
        });
    });
    group.bench_function("issue", |b| {
        b.iter(|| webhook_token::issue(black_box(id), black_box(secret.key())));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
