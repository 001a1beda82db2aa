//! `oauth1-sign`: print the OAuth 1.0a base string and `Authorization` header
//! for one request, to compare with what Jira echoes in a 401
//! (`oauth_signature_base_string`).
//!
//! ```text
//! cargo run -p jira-oauth --example oauth1-sign -- \
//!     --method GET --url 'https://jira.example.com/rest/api/2/myself' \
//!     --consumer-key sentry-bot --private-key jira_privatekey.pem --token <access token>
//! ```
//!
//! Flags: `--method`, `--url` (may carry a query; taken as given, path kept
//! exactly), `--consumer-key`, `--private-key <pem file>` (RSA-SHA1) or
//! `--consumer-secret` (HMAC-SHA1), optional `--token`, `--token-secret`,
//! `--verifier`, `--callback`, repeated `--form name=value` (plain values,
//! encoded by the tool as an `application/x-www-form-urlencoded` body),
//! `--nonce`, `--timestamp`. Prints exactly two lines:
//! `base_string: …` and `authorization: …`.

use jira_oauth::{
    Body, ConsumerSecret, RequestParts, RsaPrivateKey, SignOptions, Signer, Token, form_encode,
};

const USAGE: &str = "usage: oauth1-sign --method <METHOD> --url <URL> --consumer-key <KEY> \
(--private-key <PEM FILE> | --consumer-secret <SECRET>) [--token <TOKEN>] [--token-secret <SECRET>] \
[--verifier <V>] [--callback <URL>] [--form name=value]... [--nonce <NONCE>] [--timestamp <SECONDS>]";

#[derive(Default)]
struct Args {
    method: Option<String>,
    url: Option<String>,
    consumer_key: Option<String>,
    private_key: Option<String>,
    consumer_secret: Option<String>,
    token: Option<String>,
    token_secret: Option<String>,
    verifier: Option<String>,
    callback: Option<String>,
    form: Vec<(String, String)>,
    nonce: Option<String>,
    timestamp: Option<u64>,
}

fn parse_args(cli: &[String]) -> Result<Args, String> {
    let mut args = Args::default();
    let mut it = cli.iter();
    while let Some(arg) = it.next() {
        if arg == "-h" || arg == "--help" {
            return Err(USAGE.to_owned());
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag {
            "--method" => args.method = Some(value()?),
            "--url" => args.url = Some(value()?),
            "--consumer-key" => args.consumer_key = Some(value()?),
            "--private-key" => args.private_key = Some(value()?),
            "--consumer-secret" => args.consumer_secret = Some(value()?),
            "--token" => args.token = Some(value()?),
            "--token-secret" => args.token_secret = Some(value()?),
            "--verifier" => args.verifier = Some(value()?),
            "--callback" => args.callback = Some(value()?),
            "--nonce" => args.nonce = Some(value()?),
            "--timestamp" => {
                let v = value()?;
                args.timestamp =
                    Some(v.parse().map_err(|_| {
                        format!("--timestamp {v:?} is not a whole number of seconds")
                    })?);
            }
            "--form" => {
                let v = value()?;
                let (name, val) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--form {v:?} must be name=value"))?;
                args.form.push((name.to_owned(), val.to_owned()));
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(args)
}

/// Runs the tool on `cli` (without the program name) and returns its two
/// output lines, or an error message.
pub fn run(cli: &[String]) -> Result<String, String> {
    let args = parse_args(cli)?;
    let method = args
        .method
        .ok_or_else(|| format!("--method is required\n{USAGE}"))?;
    let url = args
        .url
        .ok_or_else(|| format!("--url is required\n{USAGE}"))?;
    let consumer_key = args
        .consumer_key
        .ok_or_else(|| format!("--consumer-key is required\n{USAGE}"))?;
    let signer = match (args.private_key, args.consumer_secret) {
        (Some(path), None) => {
            let pem = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read --private-key {path:?}: {e}"))?;
            let key = RsaPrivateKey::from_pem(&pem).map_err(|e| format!("{path}: {e}"))?;
            Signer::rsa_sha1(consumer_key, key)
        }
        (None, Some(secret)) => Signer::hmac_sha1(consumer_key, ConsumerSecret::new(secret)),
        _ => {
            return Err(format!(
                "give exactly one of --private-key (RSA-SHA1) or --consumer-secret (HMAC-SHA1)\n{USAGE}"
            ));
        }
    };
    let signer = match (args.token, args.token_secret) {
        (Some(token), secret) => signer.with_token(Token::new(token, secret.unwrap_or_default())),
        (None, Some(_)) => return Err("--token-secret needs --token".to_owned()),
        (None, None) => signer,
    };
    let mut options = SignOptions::new();
    options.nonce = args.nonce;
    options.timestamp = args.timestamp;
    options.callback = args.callback;
    options.verifier = args.verifier;
    let form_body = form_encode(&args.form);
    let body = if args.form.is_empty() {
        Body::Empty
    } else {
        Body::Form(form_body.as_bytes())
    };
    let outcome = signer
        .sign(&RequestParts::new(&method, &url).with_body(body), &options)
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "base_string: {}\nauthorization: {}",
        outcome.base_string, outcome.authorization
    ))
}

fn main() {
    let cli: Vec<String> = std::env::args().skip(1).collect();
    match run(&cli) {
        Ok(out) => println!("{out}"),
        Err(e) => {
            eprintln!("oauth1-sign: {e}");
            std::process::exit(2);
        }
    }
}
