//! A hostile or broken Jira cannot exhaust memory or hang a call: answers are read up to a
//! size limit and within the timeout. The peer is `jira_sim::hostile`: a raw TCP listener on
//! 127.0.0.1 that answers every request with an oversized or never-ending body.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jira_client::{
    Auth, CallCounters, CallOutcome, ClientOptions, DEFAULT_MAX_RESPONSE_BYTES, JiraClient,
    JiraError,
};
use jira_sim::hostile::{HostileAnswer, HostileJira};

async fn peer(how: HostileAnswer) -> HostileJira {
    HostileJira::start(how).await.unwrap()
}

fn client(base: &str, options: &ClientOptions) -> JiraClient {
    JiraClient::with_options(base, Auth::personal_access_token("pat"), options).unwrap()
}

#[tokio::test]
async fn answer_declared_larger_than_the_limit_is_refused_unread() {
    assert_eq!(DEFAULT_MAX_RESPONSE_BYTES, 4 * 1024 * 1024);
    let jira = peer(HostileAnswer::Declared(DEFAULT_MAX_RESPONSE_BYTES + 1)).await;
    let base = jira.uri();
    let counters = Arc::new(CallCounters::default());
    let options = ClientOptions::default().with_observer(counters.clone());
    let err = client(&base, &options).statuses().await.unwrap_err();
    assert!(
        matches!(
            &err,
            JiraError::ResponseTooLarge { operation: "statuses", limit, .. }
                if *limit == DEFAULT_MAX_RESPONSE_BYTES
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("larger than 4194304 bytes"),
        "{err}"
    );
    assert!(!err.is_transient());
    assert!(err.what_to_do().contains("base URL"));
    assert_eq!(
        counters.snapshot()[&("statuses", CallOutcome::Status(200))],
        1
    );

    // An answer of exactly the limit is read.
    let jira = peer(HostileAnswer::Declared(1000)).await;
    let base = jira.uri();
    let options = ClientOptions::default().with_max_response_bytes(1000);
    let err = client(&base, &options).statuses().await.unwrap_err();
    assert!(matches!(err, JiraError::InvalidResponse { .. }), "{err:?}");
}

#[tokio::test]
async fn endless_chunked_answer_is_cut_at_the_limit() {
    let jira = peer(HostileAnswer::Endless).await;
    let base = jira.uri();
    let options = ClientOptions::default().with_max_response_bytes(256 * 1024);
    let start = Instant::now();
    let err = client(&base, &options).statuses().await.unwrap_err();
    assert!(
        matches!(&err, JiraError::ResponseTooLarge { limit: 262_144, .. }),
        "{err:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn trickling_answer_times_out() {
    let jira = peer(HostileAnswer::Trickle).await;
    let base = jira.uri();
    let options = ClientOptions::default().with_timeout(Duration::from_secs(1));
    let start = Instant::now();
    let err = client(&base, &options).server_info().await.unwrap_err();
    assert!(matches!(&err, JiraError::Timeout { .. }), "{err:?}");
    assert!(err.is_transient());
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
}
