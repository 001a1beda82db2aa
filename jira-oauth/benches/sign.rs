//! Signing a typical Jira REST request with a 2048-bit RSA key, compared with
//! the bare RSA-SHA1 signature over the same base string (same group), so the
//! report shows the overhead of base-string building, encoding and header
//! rendering.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use jira_oauth::{ConsumerSecret, RequestParts, RsaPrivateKey, SignOptions, Signer, Token};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer as _};
use sha1::Sha1;

const KEY: &str = include_str!("../tests/fixtures/own/bench-rsa2048-pkcs8.pem");
const URL: &str = "https://jira.example.com/rest/api/2/user/assignable/search?issueKey=APP-1&username=bob%40example.org&startAt=0&maxResults=50";

fn bench(c: &mut Criterion) {
    let key = RsaPrivateKey::from_pem(KEY).expect("bench key loads");
    let signer = Signer::rsa_sha1("sentry-bot", key)
        .with_token(Token::new("Q7p5x0ZmXvD1ZQk9hJ2a7Nn0sLr3Y4tB", ""));
    let request = RequestParts::new("GET", URL);
    let options = SignOptions::new()
        .nonce("8c2d8f0e6a5b4c3d2e1f0a9b8c7d6e5f")
        .timestamp(1_700_000_000);
    let base_string = signer.sign(&request, &options).expect("signs").base_string;
    let bare =
        SigningKey::<Sha1>::new(rsa::PrivateKey::from_pkcs8_pem(KEY).expect("bench key loads"));

    let mut group = c.benchmark_group("jira_rest_get_rsa2048");
    group.bench_function("oauth_sign_full", |b| {
        b.iter(|| {
            signer
                .sign(black_box(&request), black_box(&options))
                .expect("signs")
        });
    });
    group.bench_function("oauth_sign_fresh_nonce_and_time", |b| {
        let defaults = SignOptions::new();
        b.iter(|| {
            signer
                .sign(black_box(&request), black_box(&defaults))
                .expect("signs")
        });
    });
    group.bench_function("bare_rsa_sha1_signature", |b| {
        b.iter(|| {
            bare.try_sign(black_box(base_string.as_bytes()))
                .expect("signs")
                .to_vec()
        });
    });
    // Everything except the RSA operation (base string, encoding, header), to
    // read the overhead directly: PLAINTEXT does no cryptography.
    let plaintext = Signer::plaintext("sentry-bot", ConsumerSecret::new("s"))
        .with_token(Token::new("Q7p5x0ZmXvD1ZQk9hJ2a7Nn0sLr3Y4tB", ""));
    group.bench_function("oauth_sign_without_crypto", |b| {
        b.iter(|| {
            plaintext
                .sign(black_box(&request), black_box(&options))
                .expect("signs")
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
