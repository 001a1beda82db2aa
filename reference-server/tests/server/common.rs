//! Shared helpers for the integration tests: a server on an ephemeral port with a temp data
//! dir, a tiny HTTP client, a wiremock Jira, and the scenario builders the modules share
//! ([`installed`], [`installed_and_seeded`], [`TestServer::put`], [`MockJira::go_down`],
//! [`sign_hs256`]). `support_backend` runs the same on PostgreSQL ([`TestServer::start_on`]).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use reference_server::config::ServeConfig;
use reference_server::server::{self, ServerHandle};
use reference_server::storage::{Inbox as _, Integrations as _};
use serde_json::{Value, json};
use tempfile::TempDir;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support_backend::{Backend, installed_and_seeded_on, installed_on};
use crate::support_jira::on;

pub const ADMIN: &str = "test-admin-token";

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// A TCP port that was free a moment ago (for the tests that start the server binary).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// One HTTP/1.1 request on a fresh connection.
pub async fn http(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (StatusCode, Bytes) {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::from(body))).expect("request");
    let resp = sender.send_request(req).await.expect("send");
    let status = resp.status();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, body)
}

pub struct TestServer {
    pub handle: Option<ServerHandle>,
    pub dir: TempDir,
    pub addr: SocketAddr,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_in(tempfile::tempdir().expect("tempdir")).await
    }

    pub async fn start_in(dir: TempDir) -> Self {
        Self::start_with(dir, |_| {}).await
    }

    /// Starts a server on `dir` with the test defaults changed by `configure`.
    pub async fn start_with(dir: TempDir, configure: impl FnOnce(&mut ServeConfig)) -> Self {
        let mut config = ServeConfig::new(
            "127.0.0.1:0".parse().expect("addr"),
            dir.path().to_path_buf(),
        );
        config.admin_token = Some(ADMIN.parse().expect("token"));
        config.shutdown_timeout_secs = 2;
        configure(&mut config);
        let handle = server::start(config).await.expect("server starts");
        let addr = handle.addr;
        Self {
            handle: Some(handle),
            dir,
            addr,
        }
    }

    /// Stops the server and returns its data dir (for restart tests).
    pub async fn stop(mut self) -> TempDir {
        if let Some(h) = self.handle.take() {
            h.shutdown().await.expect("clean shutdown");
        }
        self.dir
    }

    pub fn state(&self) -> &reference_server::app::AppState {
        &self.handle.as_ref().expect("running").state
    }

    /// Number of deliveries waiting in the inbox.
    pub async fn inbox_len(&self) -> usize {
        self.state()
            .storage
            .pending_count()
            .await
            .expect("inbox count")
    }

    /// `PUT /api/v1{path}` with a JSON body; asserts 200.
    pub async fn put(&self, path: &str, body: Value) {
        let (status, reply) = self.api(Method::PUT, path, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "PUT {path}: {reply}");
    }

    /// The newest 100 entries of an integration's delivery log; asserts 200 and a list.
    pub async fn deliveries(&self, integration: &str) -> Vec<Value> {
        let (status, body) = self
            .api(
                Method::GET,
                &format!("/integrations/{integration}/deliveries?limit=100"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["deliveries"].as_array().expect("list").clone()
    }

    pub async fn api(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let auth = format!("Bearer {ADMIN}");
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let (status, bytes) = http(
            self.addr,
            method,
            &format!("/api/v1{path}"),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            body,
        )
        .await;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, value)
    }

    pub async fn webhook(&self, token: &str, body: &[u8]) -> (StatusCode, Bytes) {
        http(
            self.addr,
            Method::POST,
            &format!("/extensions/jira-server/issue-updated/{token}/"),
            &[("content-type", "application/json")],
            body.to_vec(),
        )
        .await
    }

    /// Polls `GET /groups/{id}` until `pred` holds (at most `within`).
    pub async fn wait_group(
        &self,
        id: &str,
        within: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let (status, g) = self.api(Method::GET, &format!("/groups/{id}"), None).await;
            assert_eq!(status, StatusCode::OK, "{g}");
            if pred(&g) {
                return g;
            }
            assert!(
                start.elapsed() < within,
                "group {id} did not reach the state: {g}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Polls the delivery log until the newest delivery is no longer pending.
    pub async fn wait_delivery(&self, integration: &str, within: Duration) -> Value {
        let start = Instant::now();
        loop {
            let (status, d) = self
                .api(
                    Method::GET,
                    &format!("/integrations/{integration}/deliveries?limit=1"),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{d}");
            if let Some(first) = d["deliveries"].get(0)
                && first["state"] != "pending"
            {
                return first.clone();
            }
            assert!(start.elapsed() < within, "delivery still pending: {d}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Seeds the usual world: user bob (verified bob@example.org), project p1 in org o1 with
    /// bob as member, group g1 in p1 linked to `key`, org o1 enabled for both sync kinds.
    pub async fn seed(&self, integration: &str, key: &str) {
        let ok = |(s, v): (StatusCode, Value)| assert_eq!(s, StatusCode::OK, "{v}");
        ok(self
            .api(
                Method::PUT,
                "/users/u-bob",
                Some(json!({"name": "Bob", "active": true, "emails": [{"email": "bob@example.org", "verified": true}]})),
            )
            .await);
        ok(self
            .api(
                Method::PUT,
                "/projects/p1",
                Some(json!({"organization": "o1", "members": ["u-bob"]})),
            )
            .await);
        ok(self
            .api(Method::PUT, "/groups/g1", Some(json!({"project": "p1"})))
            .await);
        ok(self
            .api(
                Method::PUT,
                &format!("/groups/g1/external-issues/{integration}/{key}"),
                None,
            )
            .await);
        ok(self
            .api(
                Method::PUT,
                &format!("/integrations/{integration}/organizations/o1"),
                Some(json!({"syncReverseAssignment": true, "syncStatusReverse": true})),
            )
            .await);
    }
}

/// A wiremock Jira answering the calls of a PAT install and of the worker.
pub struct MockJira {
    pub server: MockServer,
}

impl MockJira {
    pub async fn start(major: u64) -> Self {
        let server = MockServer::start().await;
        on("GET", "/rest/api/2/myself")
            .reply(ResponseTemplate::new(200).set_body_json(
                json!({"name": "admin", "key": "JIRAUSER10000", "displayName": "Admin"}),
            ))
            .mount(&server)
            .await;
        on("GET", "/rest/api/2/serverInfo")
            .reply(ResponseTemplate::new(200).set_body_json(json!({
                "baseUrl": server.uri(), "version": format!("{major}.4.0"),
                "versionNumbers": [major, 4, 0], "deploymentType": "Server", "serverTitle": "Mock Jira"
            })))
            .mount(&server)
            .await;
        let collection = if major >= 10 {
            "/rest/jira-webhook/1.0/webhooks"
        } else {
            "/rest/webhooks/1.0/webhook"
        };
        on("POST", collection)
            .reply(ResponseTemplate::new(201).set_body_json(json!({
                "self": format!("{}/rest/webhooks/1.0/webhook/77", server.uri()), "id": 77
            })))
            .mount(&server)
            .await;
        on("DELETE", &format!("{collection}/77"))
            .reply(ResponseTemplate::new(204))
            .mount(&server)
            .await;
        let statuses: Value =
            serde_json::from_slice(&fixture("status_response.json")).expect("json");
        on("GET", "/rest/api/2/status")
            .reply(ResponseTemplate::new(200).set_body_json(statuses))
            .mount(&server)
            .await;
        Self { server }
    }

    /// Jira goes down: every stub is removed and every request gets 503 from now on.
    pub async fn go_down(&self) {
        self.server.reset().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(ResponseTemplate::new(503))
            .mount(&self.server)
            .await;
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The webhook URL registered by the last install.
    pub async fn registered_webhook_url(&self) -> String {
        let reqs = self.server.received_requests().await.expect("recording on");
        let last = reqs
            .iter()
            .rev()
            .find(|r| r.method.as_str() == "POST" && r.url.path().contains("webhook"))
            .expect("a webhook was registered");
        let body: Value = serde_json::from_slice(&last.body).expect("json body");
        body["url"].as_str().expect("url").to_owned()
    }

    /// Number of requests to a path with a method.
    pub async fn count(&self, m: &str, p: &str) -> usize {
        self.server
            .received_requests()
            .await
            .expect("recording on")
            .iter()
            .filter(|r| r.method.as_str() == m && r.url.path() == p)
            .count()
    }
}

/// Installs through `POST /install-pat` against `jira`; returns (integration id, URL token).
pub async fn install_pat(server: &TestServer, jira: &MockJira) -> (String, String) {
    let (status, body) = server
        .api(
            Method::POST,
            "/integrations/jira-server/install-pat",
            Some(json!({"url": jira.uri(), "token": "pat-secret", "verifySsl": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["integration"]["id"].as_str().expect("id").to_owned();
    let url = jira.registered_webhook_url().await;
    let token = url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .expect("token")
        .to_owned();
    (id, token)
}

/// A running server with a PAT install against a fresh Jira 9 mock: (server, Jira, integration
/// id, the webhook URL token). On sled; [`installed_on`] chooses the backend.
pub async fn installed() -> (TestServer, MockJira, String, String) {
    installed_on(&Backend::Sled).await
}

/// [`installed`], then [`TestServer::seed`] with `key` linked to group g1.
pub async fn installed_and_seeded(key: &str) -> (TestServer, MockJira, String, String) {
    installed_and_seeded_on(&Backend::Sled, key).await
}

/// The webhook secret of an installed integration (read from the store).
pub async fn secret_of(server: &TestServer, id: &str) -> Vec<u8> {
    server
        .state()
        .storage
        .integration(id)
        .await
        .expect("store")
        .expect("installed")
        .installed
        .webhook_secret
        .key()
        .to_vec()
}

/// The external id of an installed integration.
pub async fn external_id_of(server: &TestServer, id: &str) -> String {
    server
        .state()
        .storage
        .integration(id)
        .await
        .expect("store")
        .expect("installed")
        .external_id()
        .to_owned()
}

/// An HS256 JWT with the usual header (`{"alg":"HS256","typ":"JWT"}`) over the claims JSON.
pub fn sign_hs256(claims: &str, secret: &[u8]) -> String {
    sign(r#"{"alg":"HS256","typ":"JWT"}"#, claims, secret)
}

/// An HS256 JWT over the given header and claims JSON.
pub fn sign(header: &str, claims: &str, secret: &[u8]) -> String {
    use base64::Engine as _;
    use hmac::{KeyInit as _, Mac as _};
    let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let input = format!("{}.{}", enc.encode(header), enc.encode(claims));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("key");
    mac.update(input.as_bytes());
    format!("{input}.{}", enc.encode(mac.finalize().into_bytes()))
}

/// Sends raw bytes on a fresh connection, optionally half-closes, and reads whatever comes back
/// until the server closes (`true`) or `wait` passes (`false`).
pub async fn raw(
    addr: std::net::SocketAddr,
    bytes: &[u8],
    close_write: bool,
    wait: Duration,
) -> (String, bool) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("write");
    if close_write {
        s.shutdown().await.expect("shutdown");
    }
    let mut out = Vec::new();
    let closed = tokio::time::timeout(wait, s.read_to_end(&mut out))
        .await
        .is_ok();
    (String::from_utf8_lossy(&out).into_owned(), closed)
}
