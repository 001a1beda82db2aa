//! A small simulated Jira Server / Data Center for tests, the load harness and the reference
//! server's walk-through.
//!
//! It listens on `127.0.0.1` (an ephemeral port by default) and implements what the
//! integration uses, checking requests the way Jira does:
//!
//! * OAuth 1.0a servlets (`/plugins/servlet/oauth/request-token`, `authorize`,
//!   `access-token`): RSA-SHA1 signatures are verified with `jira-oauth`'s verifier and the
//!   consumer's public key; timestamps outside ±5 min and repeated nonces are refused with
//!   `401` + `oauth_problem` (`nonce_used`, `signature_invalid`, ...).
//! * Personal access tokens (`Authorization: Bearer`).
//! * `GET /rest/api/2/serverInfo` (version configurable: 9.x uses
//!   `/rest/webhooks/1.0/webhook`, 10.x `/rest/jira-webhook/1.0/webhooks`; the other path
//!   answers 404 as on real instances), `GET /rest/api/2/myself`, `GET /rest/api/2/status`,
//!   `GET /rest/api/2/user?username=|key=` (users may hide their e-mail).
//! * Webhook create / list / get / delete at the version's resource; creating needs an admin
//!   user (else 403 with the `messages` body Sentry's tests use).
//! * Issues: `GET /rest/api/2/issue/{key}`, `PUT .../assignee`, `GET|POST .../transitions`.
//!   Changing an issue POSTs a `jira:issue_updated` delivery (with changelog) to every
//!   registered webhook, like Jira does.
//! * Failure injection: [`SimulatedJira::fail_webhook_create`] and [`SimulatedJira::set_down`]
//!   (every request answers 503).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use jira_sim::{Config, SimulatedJira};
//!
//! let jira = SimulatedJira::start(Config::demo()).await?;
//! let http = reqwest::Client::new();
//! let bearer = format!("Bearer {}", Config::DEMO_PAT);
//!
//! // Register a webhook as an admin would (Jira 9.x resource).
//! let created = http
//!     .post(format!("{}/rest/webhooks/1.0/webhook", jira.base_url()))
//!     .header("authorization", &bearer)
//!     .header("content-type", "application/json")
//!     .body(
//!         serde_json::json!({
//!             "name": "demo",
//!             "url": "http://127.0.0.1:9/extensions/jira-server/issue-updated/t/",
//!             "events": ["jira:issue_updated"],
//!         })
//!         .to_string(),
//!     )
//!     .send()
//!     .await?;
//! assert_eq!(created.status(), 201);
//! assert_eq!(jira.webhooks().len(), 1);
//!
//! // Changing an issue in "Jira" delivers `jira:issue_updated` to every webhook.
//! let reply = http
//!     .put(format!("{}/rest/api/2/issue/APP-1/assignee", jira.base_url()))
//!     .header("authorization", &bearer)
//!     .header("content-type", "application/json")
//!     .body(r#"{"name": "bob"}"#)
//!     .send()
//!     .await?;
//! assert_eq!(reply.status(), 204);
//! assert_eq!(jira.issue("APP-1").and_then(|i| i.assignee).as_deref(), Some("bob"));
//! jira.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The `jira-sim` binary serves the same Jira with [`Config::demo`] data on
//! `127.0.0.1:8090` until Ctrl-C (`cargo run -p jira-sim -- --help`).

pub mod hostile;
mod payload;
mod server;
#[cfg(feature = "wiremock")]
pub mod wiremock;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use jira_oauth::{InMemoryNonceStore, RsaPublicKey};
use serde::Serialize;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The demo consumer key used by [`Config::demo`].
pub const DEMO_CONSUMER_KEY: &str = "reference-server";

/// PEM public key of the demo consumer (the key pair used by the tests).
pub const DEMO_PUBLIC_KEY_PEM: &str = include_str!("../keys/consumer_public_key.pem");

/// PEM private key of the demo consumer. It is public (committed): for demos and tests only.
pub const DEMO_PRIVATE_KEY_PEM: &str = include_str!("../keys/consumer_private_key.pem");

/// Errors starting the simulated Jira.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The listen address could not be bound.
    #[error("could not listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A consumer's public key is not a PEM public key.
    #[error("public key of consumer {consumer_key:?} is invalid: {reason}")]
    PublicKey {
        /// The consumer key.
        consumer_key: String,
        /// Why.
        reason: String,
    },
    /// The public key file could not be read.
    #[error("could not read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The HTTP client used for deliveries could not be built.
    #[error("could not build the delivery client: {0}")]
    Client(String),
}

/// A Jira user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SimUser {
    /// Username (`name`).
    pub name: String,
    /// User key, e.g. `JIRAUSER10001`.
    pub key: String,
    /// Display name.
    pub display_name: String,
    /// E-mail address; `None` simulates hidden e-mail visibility.
    pub email: Option<String>,
    /// Jira administrator (may manage webhooks).
    pub admin: bool,
}

impl SimUser {
    /// A non-admin user.
    pub fn new(name: &str, key: &str, display_name: &str, email: Option<&str>) -> Self {
        Self {
            name: name.to_owned(),
            key: key.to_owned(),
            display_name: display_name.to_owned(),
            email: email.map(str::to_owned),
            admin: false,
        }
    }

    /// The same user with administrator rights.
    #[must_use]
    pub fn admin(mut self) -> Self {
        self.admin = true;
        self
    }
}

/// A status with its category key (`new`, `indeterminate`, `done`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SimStatus {
    /// Status id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Category key.
    pub category_key: String,
}

impl SimStatus {
    /// A status.
    pub fn new(id: &str, name: &str, category_key: &str) -> Self {
        Self {
            id: id.to_owned(),
            name: name.to_owned(),
            category_key: category_key.to_owned(),
        }
    }
}

/// An issue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SimIssue {
    /// Numeric id as a string.
    pub id: String,
    /// Key, e.g. `APP-1`.
    pub key: String,
    /// Summary.
    pub summary: String,
    /// Current status id.
    pub status_id: String,
    /// Username of the assignee.
    pub assignee: Option<String>,
}

impl SimIssue {
    /// An unassigned issue.
    pub fn new(id: &str, key: &str, summary: &str, status_id: &str) -> Self {
        Self {
            id: id.to_owned(),
            key: key.to_owned(),
            summary: summary.to_owned(),
            status_id: status_id.to_owned(),
            assignee: None,
        }
    }
}

/// What the simulated Jira starts with.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Listen address (default `127.0.0.1:0`, an ephemeral port).
    pub listen: SocketAddr,
    /// Version reported by `serverInfo` (decides the webhook resource).
    pub version: String,
    /// `serverTitle`.
    pub server_title: String,
    /// OAuth consumers: consumer key -> PEM public key (`BEGIN PUBLIC KEY`).
    pub consumers: BTreeMap<String, String>,
    /// Personal access tokens: token -> username.
    pub personal_access_tokens: BTreeMap<String, String>,
    /// Username an OAuth access token acts as once approved (should be an admin).
    pub oauth_user: String,
    /// Issue access tokens without a visit to the authorize page.
    pub auto_approve: bool,
    /// The application link's "consumer callback URL": where authorize redirects the browser
    /// (with `?oauth_token=...&oauth_verifier=...`) when the request token had no callback.
    pub oauth_callback: Option<String>,
    /// Users.
    pub users: Vec<SimUser>,
    /// Statuses.
    pub statuses: Vec<SimStatus>,
    /// Issues.
    pub issues: Vec<SimIssue>,
}

impl Config {
    /// The demo personal access token (an admin's).
    pub const DEMO_PAT: &'static str = "demo-admin-token";

    /// An empty Jira 9.12.0 with no consumers, tokens, users, statuses or issues.
    pub fn empty() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            version: "9.12.0".to_owned(),
            server_title: "Simulated Jira".to_owned(),
            consumers: BTreeMap::new(),
            personal_access_tokens: BTreeMap::new(),
            oauth_user: "admin".to_owned(),
            auto_approve: false,
            oauth_callback: None,
            users: Vec::new(),
            statuses: Vec::new(),
            issues: Vec::new(),
        }
    }

    /// Demo data: consumer [`DEMO_CONSUMER_KEY`] with [`DEMO_PUBLIC_KEY_PEM`], PAT
    /// [`Config::DEMO_PAT`] for `admin`; users `admin` (admin), `bob` (e-mail visible) and
    /// `alice` (e-mail hidden); statuses `10000` To Do (new), `3` In Progress
    /// (indeterminate), `10002` Done (done); issues `APP-1`, `APP-2` (To Do, unassigned).
    pub fn demo() -> Self {
        let mut config = Self::empty();
        config
            .consumers
            .insert(DEMO_CONSUMER_KEY.to_owned(), DEMO_PUBLIC_KEY_PEM.to_owned());
        config
            .personal_access_tokens
            .insert(Self::DEMO_PAT.to_owned(), "admin".to_owned());
        config.users = vec![
            SimUser::new(
                "admin",
                "JIRAUSER10000",
                "Administrator",
                Some("admin@example.org"),
            )
            .admin(),
            SimUser::new("bob", "JIRAUSER10001", "Bob", Some("bob@example.org")),
            SimUser::new("alice", "JIRAUSER10002", "Alice", None),
        ];
        config.statuses = vec![
            SimStatus::new("10000", "To Do", "new"),
            SimStatus::new("3", "In Progress", "indeterminate"),
            SimStatus::new("10002", "Done", "done"),
        ];
        config.issues = vec![
            SimIssue::new("10001", "APP-1", "Crash on save", "10000"),
            SimIssue::new("10002", "APP-2", "Slow search", "10000"),
        ];
        config
    }

    /// Sets the version (e.g. `"10.3.6"`).
    #[must_use]
    pub fn with_version(mut self, version: &str) -> Self {
        version.clone_into(&mut self.version);
        self
    }
}

/// A webhook registered in the simulated Jira.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SimWebhook {
    /// Id (numeric, as a string).
    pub id: String,
    /// Name.
    pub name: String,
    /// Delivery URL (carries the integration's token).
    pub url: String,
    /// Subscribed events.
    pub events: Vec<String>,
    /// `true` for `/rest/jira-webhook/1.0/webhooks` (10.x), `false` for the 9.x resource.
    pub jira_webhook_api: bool,
}

/// Result of POSTing one delivery to one webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryResult {
    /// Id of the webhook delivered to.
    pub webhook_id: String,
    /// HTTP status of the receiver, or `None` if it could not be reached.
    pub status: Option<u16>,
    /// Transport error, if any.
    pub error: Option<String>,
}

/// One request the simulated Jira received (for assertions).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// Method.
    pub method: String,
    /// Path and query.
    pub path_and_query: String,
    /// `oauth`, `bearer`, `other` or `none`.
    pub auth_scheme: &'static str,
    /// `oauth_nonce`, for OAuth requests.
    pub nonce: Option<String>,
    /// Status answered.
    pub status: u16,
}

struct RequestToken {
    consumer_key: String,
    callback: Option<String>,
    verifier: String,
    approved: bool,
}

struct AccessToken {
    consumer_key: String,
    user: String,
}

struct State {
    config: Config,
    issues: BTreeMap<String, SimIssue>,
    request_tokens: HashMap<String, RequestToken>,
    access_tokens: HashMap<String, AccessToken>,
    webhooks: Vec<SimWebhook>,
    next_webhook_id: u64,
    next_changelog_id: u64,
    webhook_create_failure: Option<(u16, String)>,
    down: bool,
    requests: Vec<RecordedRequest>,
}

struct Shared {
    state: Mutex<State>,
    nonces: InMemoryNonceStore,
    public_keys: HashMap<String, RsaPublicKey>,
    http: reqwest::Client,
    base_url: String,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running simulated Jira. Dropping it does not stop the server; call
/// [`SimulatedJira::shutdown`].
pub struct SimulatedJira {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for SimulatedJira {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedJira")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Starts a simulated Jira (same as [`SimulatedJira::start`]).
pub async fn spawn(config: Config) -> Result<SimulatedJira, SimError> {
    SimulatedJira::start(config).await
}

impl SimulatedJira {
    /// Binds `config.listen` and serves in a background task.
    pub async fn start(config: Config) -> Result<Self, SimError> {
        let mut public_keys = HashMap::new();
        for (consumer_key, pem) in &config.consumers {
            let key = RsaPublicKey::from_pem(pem).map_err(|e| SimError::PublicKey {
                consumer_key: consumer_key.clone(),
                reason: e.to_string(),
            })?;
            public_keys.insert(consumer_key.clone(), key);
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| SimError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: config.listen,
            source,
        })?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| SimError::Client(e.to_string()))?;
        let issues = config
            .issues
            .iter()
            .map(|i| (i.key.clone(), i.clone()))
            .collect();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                config,
                issues,
                request_tokens: HashMap::new(),
                access_tokens: HashMap::new(),
                webhooks: Vec::new(),
                next_webhook_id: 1,
                next_changelog_id: 10_500,
                webhook_create_failure: None,
                down: false,
                requests: Vec::new(),
            }),
            nonces: InMemoryNonceStore::new(),
            public_keys,
            http,
            base_url: format!("http://{addr}"),
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(server::serve(listener, shared.clone(), stopped));
        Ok(Self {
            addr,
            shared,
            stop,
            task,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// Registered webhooks.
    pub fn webhooks(&self) -> Vec<SimWebhook> {
        self.shared.lock().webhooks.clone()
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Number of distinct OAuth nonces accepted so far.
    pub fn nonces_seen(&self) -> usize {
        self.shared.nonces.len()
    }

    /// Makes every webhook creation answer `status` with `body` until cleared with `None`.
    pub fn fail_webhook_create(&self, failure: Option<(u16, &str)>) {
        self.shared.lock().webhook_create_failure = failure.map(|(s, b)| (s, b.to_owned()));
    }

    /// `true`: every request answers 503 (Jira down); `false`: back to normal.
    pub fn set_down(&self, down: bool) {
        self.shared.lock().down = down;
    }

    /// Adds or replaces a user (by username).
    pub fn upsert_user(&self, user: SimUser) {
        let mut state = self.shared.lock();
        state.config.users.retain(|u| u.name != user.name);
        state.config.users.push(user);
    }

    /// Adds or replaces an issue (by key).
    pub fn upsert_issue(&self, issue: SimIssue) {
        self.shared.lock().issues.insert(issue.key.clone(), issue);
    }

    /// Current state of an issue.
    pub fn issue(&self, key: &str) -> Option<SimIssue> {
        self.shared.lock().issues.get(key).cloned()
    }

    /// Approves a request token as the user clicking "Allow" would; returns the verifier.
    pub fn approve(&self, request_token: &str) -> Option<String> {
        let mut state = self.shared.lock();
        let token = state.request_tokens.get_mut(request_token)?;
        token.approved = true;
        Some(token.verifier.clone())
    }

    /// Assigns (or, with `None`, unassigns) an issue as `actor` and delivers the resulting
    /// `jira:issue_updated` event to every registered webhook; returns the delivery results.
    pub async fn assign_issue(
        &self,
        key: &str,
        assignee: Option<&str>,
    ) -> Result<Vec<DeliveryResult>, String> {
        let body = payload::assign(&self.shared, key, assignee, "admin")?;
        Ok(deliver_to_all(&self.shared, &body).await)
    }

    /// Moves an issue to `status_id` and delivers the resulting event.
    pub async fn transition_issue(
        &self,
        key: &str,
        status_id: &str,
    ) -> Result<Vec<DeliveryResult>, String> {
        let body = payload::transition(&self.shared, key, status_id, "admin")?;
        Ok(deliver_to_all(&self.shared, &body).await)
    }

    /// POSTs an arbitrary body (e.g. a captured fixture) to every registered webhook.
    pub async fn deliver(&self, body: &Value) -> Vec<DeliveryResult> {
        deliver_to_all(&self.shared, body).await
    }

    /// Stops accepting connections and waits for the server task.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn deliver_to_all(shared: &Shared, body: &Value) -> Vec<DeliveryResult> {
    let targets: Vec<SimWebhook> = shared.lock().webhooks.clone();
    let bytes = body.to_string();
    let mut results = Vec::with_capacity(targets.len());
    for hook in targets {
        let outcome = shared
            .http
            .post(&hook.url)
            .header("content-type", "application/json; charset=UTF-8")
            .header("user-agent", "Atlassian HttpClient (simulated)")
            .body(bytes.clone())
            .send()
            .await;
        results.push(match outcome {
            Ok(response) => DeliveryResult {
                webhook_id: hook.id,
                status: Some(response.status().as_u16()),
                error: None,
            },
            Err(e) => DeliveryResult {
                webhook_id: hook.id,
                status: None,
                error: Some(e.without_url().to_string()),
            },
        });
    }
    results
}

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
