//! The install pipeline, independent of HTTP routing (Sentry §1.2 B and §1.3).
//!
//! OAuth 1.0a:
//! 1. [`start_oauth`]: validate the form ([`validate`]: URL with scheme, trailing `/`
//!    stripped; consumer key at most 200 characters; unencrypted PEM private key), then fetch a
//!    request token. The returned [`PendingInstall`] is what the caller keeps until the
//!    callback (it is `serde`-able and holds secrets); its `authorize_url` is where the user
//!    approves access in Jira.
//! 2. [`complete_oauth`]: exchange the request token and the verifier (Sentry passes the
//!    callback's `oauth_token` as verifier) for an access token, then build the integration:
//!    `external_id = "{host[:port]}:{consumerKey}"` cut to 64 characters, a fresh
//!    [`WebhookSecret`] (32 OS random bytes, so it can be rotated, unlike Sentry's SHA-1 of the
//!    private key), the JWT `{"id": external_id}` and the webhook URL
//!    `{public_url}/extensions/jira-server/issue-updated/{jwt}/`, registered after
//!    `GET serverInfo` at the resource that version uses. Nothing is returned (and so nothing
//!    can be persisted) unless the webhook was created.
//!
//! Personal access token: [`install_pat`] checks the token with `GET /rest/api/2/myself`
//! and registers the webhook the same way; `external_id = "{host[:port]}:pat:{username}"`.
//!
//! Every error is an [`InstallError`] whose `Display` is the message to show the user (Sentry's
//! texts where Sentry has one) and whose [`InstallError::code`] is a stable machine code.
//!
//! If persisting an [`Installed`] fails, the caller should delete its webhook
//! ([`jira_client::JiraClient::delete_webhook`] with [`Installed::webhook`]); before persisting a
//! reinstall (same `external_id`), delete the previous integration's webhook so Jira never
//! keeps two.
//!
//! ```no_run
//! # async fn demo() -> Result<(), reference_server::jira::install::InstallError> {
//! use jira_client::ClientOptions;
//! use reference_server::jira::install::{self, InstallRequest};
//! let request = InstallRequest::new(
//!     "https://jira.example.com/",
//!     "sentry-bot",
//!     std::fs::read_to_string("jira_privatekey.pem").unwrap_or_default(),
//!     true,
//! );
//! let options = ClientOptions::default();
//! let pending = install::start_oauth(&request, &options, None).await?;
//! println!("open {}", pending.authorize_url);
//! // ... later, with the oauth_token from the callback:
//! let installed = install::complete_oauth(&pending, "callback-token", "https://sync.example.com", &options).await?;
//! println!("installed {} (webhook {:?})", installed.external_id, installed.webhook.id);
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use jira_client::{
    Auth, ClientOptions, Consumer, JiraClient, JiraError, JiraUser, OAuthSetupClient, PrivateKey,
    SecretString, ServerInfo, TokenPair, WebhookRef, WebhookSpec, normalize_base_url,
};

use super::webhook_token::{self, WebhookSecret};

/// Longest accepted consumer key (Sentry's form limit).
pub const MAX_CONSUMER_KEY_LEN: usize = 200;

/// Longest external id; longer ids are cut (Sentry parity).
pub const MAX_EXTERNAL_ID_LEN: usize = 64;

/// Message for a missing field (Django REST framework's text, as Sentry answers).
pub const MSG_REQUIRED: &str = "This field is required.";
/// Message for a URL without scheme or otherwise invalid.
pub const MSG_INVALID_URL: &str = "Enter a valid URL.";
/// Message for a consumer key longer than 200 characters.
pub const MSG_CONSUMER_KEY_TOO_LONG: &str = "Consumer key is limited to 200 characters.";
/// Message for a private key that is not an unencrypted PEM key.
pub const MSG_INVALID_PRIVATE_KEY: &str =
    "Private key must be a valid SSH private key encoded in a PEM format.";

/// Sentry's message with a hint, for a private key that looks like a file path (the value is
/// never repeated: it could be a key after all).
pub const MSG_PRIVATE_KEY_IS_A_PATH: &str = "Private key must be a valid SSH private key encoded \
    in a PEM format. This looks like a file path: send the key file's contents (the text from \
    -----BEGIN ... PRIVATE KEY----- to its END line) in the JSON body, not the file's name \
    (e.g. jq --rawfile privateKey <file>).";

/// Whether a `privateKey` value is a file name rather than a key: one line, no PEM armour, and
/// the shape of a path or a key file's name.
fn looks_like_a_path(value: &str) -> bool {
    !value.contains("-----") && !value.contains('\n') && {
        let lower = value.to_ascii_lowercase();
        value.starts_with(['/', '~', '.'])
            || value.contains(":\\")
            || [".pem", ".key", ".der", ".pk8"]
                .iter()
                .any(|ext| lower.ends_with(ext))
    }
}

/// The OAuth install form (`{"url","consumerKey","privateKey","verifySsl"}`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InstallRequest {
    /// Jira base URL.
    #[serde(default)]
    pub url: String,
    /// Consumer key from Jira's application link.
    #[serde(default)]
    pub consumer_key: String,
    /// PEM private key (its public half is in Jira's application link).
    #[serde(default)]
    pub private_key: String,
    /// Check TLS certificates (default `true`).
    #[serde(default = "default_true")]
    pub verify_ssl: bool,
}

impl InstallRequest {
    /// A request from its four fields.
    pub fn new(
        url: impl Into<String>,
        consumer_key: impl Into<String>,
        private_key: impl Into<String>,
        verify_ssl: bool,
    ) -> Self {
        Self {
            url: url.into(),
            consumer_key: consumer_key.into(),
            private_key: private_key.into(),
            verify_ssl,
        }
    }
}

/// The personal-access-token install form (`{"url","token","verifySsl"}`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PatInstallRequest {
    /// Jira base URL.
    #[serde(default)]
    pub url: String,
    /// The personal access token of a Jira administrator (webhooks need admin rights).
    #[serde(default)]
    pub token: SecretString,
    /// Check TLS certificates (default `true`).
    #[serde(default = "default_true")]
    pub verify_ssl: bool,
}

impl PatInstallRequest {
    /// A request from its three fields.
    pub fn new(url: impl Into<String>, token: impl Into<SecretString>, verify_ssl: bool) -> Self {
        Self {
            url: url.into(),
            token: token.into(),
            verify_ssl,
        }
    }
}

fn default_true() -> bool {
    true
}

/// Per-field validation messages, e.g. `{"consumerKey": ["This field is required."]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct FieldErrors(pub BTreeMap<String, Vec<String>>);

impl FieldErrors {
    fn add(&mut self, field: &str, message: &str) {
        self.0
            .entry(field.to_owned())
            .or_default()
            .push(message.to_owned());
    }

    /// Messages for one field (camelCase name as on the wire).
    pub fn get(&self, field: &str) -> &[String] {
        self.0.get(field).map_or(&[], Vec::as_slice)
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (field, messages) in &self.0 {
            for message in messages {
                if !first {
                    f.write_str("; ")?;
                }
                first = false;
                write!(f, "{field}: {message}")?;
            }
        }
        Ok(())
    }
}

/// Why an install step failed. `Display` is the user-facing message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The form is invalid; see the per-field messages.
    #[error("invalid install request: {0}")]
    Validation(FieldErrors),
    /// The request-token call failed (Sentry's text).
    #[error("Could not fetch a request token from Jira. {0}")]
    RequestToken(JiraError),
    /// The request-token reply lacked `oauth_token` or `oauth_token_secret` (Sentry's text).
    #[error("Missing oauth_token")]
    MissingOAuthToken {
        /// Keys the reply did have (for the log line Sentry writes).
        keys: Vec<String>,
    },
    /// The access-token exchange failed (Sentry's text, plus the reason).
    #[error("Could not fetch an access token from Jira. {0}")]
    AccessToken(JiraError),
    /// The personal access token was rejected or Jira could not be asked. The code tells
    /// which: `personal_access_token_rejected` (401, 403), `jira_unreachable` (no connection,
    /// timeout: the message then says what to check), `personal_access_token_check_failed`
    /// (any other answer).
    #[error("Could not verify the personal access token with Jira. {}{}", .0, unreachable_hint(.0))]
    PersonalAccessToken(JiraError),
    /// `GET serverInfo` or the webhook creation failed (Sentry's text + Jira's first message).
    #[error("Could not create issue webhook in Jira. {}", webhook_detail(.0))]
    Webhook(JiraError),
    /// The callback carried no token (`oauthToken` missing or empty).
    #[error("Missing OAuth token verifier")]
    MissingVerifier,
    /// The OS random source failed while generating the webhook secret.
    #[error("could not generate a webhook secret: {0}")]
    Random(String),
    /// The HTTP client could not be built.
    #[error("could not set up the Jira client: {0}")]
    Client(JiraError),
}

fn unreachable_hint(error: &JiraError) -> String {
    if error.is_transient() {
        format!(". {}", error.what_to_do())
    } else {
        String::new()
    }
}

fn webhook_detail(error: &JiraError) -> String {
    error
        .jira_message()
        .map_or_else(|| error.to_string(), str::to_owned)
}

impl InstallError {
    /// A stable machine-readable code, e.g. for `{"error": {"code": ...}}`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "validation_failed",
            Self::RequestToken(_) => "request_token_failed",
            Self::MissingOAuthToken { .. } => "missing_oauth_token",
            Self::AccessToken(_) => "access_token_failed",
            Self::PersonalAccessToken(e) if e.is_transient() => "jira_unreachable",
            Self::PersonalAccessToken(e) if matches!(e.status(), Some(401 | 403)) => {
                "personal_access_token_rejected"
            }
            Self::PersonalAccessToken(_) => "personal_access_token_check_failed",
            Self::Webhook(_) => "webhook_failed",
            Self::MissingVerifier => "missing_verifier",
            Self::Random(_) => "internal",
            Self::Client(_) => "client_setup_failed",
        }
    }

    /// Per-field messages, for [`InstallError::Validation`].
    pub fn fields(&self) -> Option<&FieldErrors> {
        match self {
            Self::Validation(fields) => Some(fields),
            _ => None,
        }
    }

    /// The underlying Jira error, if any (for logs and metrics).
    pub fn jira_error(&self) -> Option<&JiraError> {
        match self {
            Self::RequestToken(e)
            | Self::AccessToken(e)
            | Self::PersonalAccessToken(e)
            | Self::Webhook(e)
            | Self::Client(e) => Some(e),
            _ => None,
        }
    }

    /// True for errors caused by the caller's input or by Jira's answer (HTTP 400 in Sentry);
    /// false for internal failures (HTTP 500).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Self::Random(_) | Self::Client(_))
    }
}

/// A form that passed validation.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ValidatedInstall {
    /// Base URL without trailing `/`.
    pub base_url: String,
    /// `host[:port]`.
    pub host: String,
    /// Consumer key and parsed key.
    pub consumer: Consumer,
    /// Check TLS certificates.
    pub verify_ssl: bool,
}

/// Validates the OAuth install form with Sentry's messages; all field errors are reported at
/// once.
///
/// ```
/// use reference_server::jira::install::{validate, InstallRequest};
/// let err = validate(&InstallRequest::new("jira.example.com/", "", "hot-garbage", true)).unwrap_err();
/// let fields = err.fields().unwrap();
/// assert_eq!(fields.get("url"), ["Enter a valid URL."]);
/// assert_eq!(fields.get("consumerKey"), ["This field is required."]);
/// assert!(fields.get("privateKey")[0].contains("PEM format"));
/// ```
pub fn validate(request: &InstallRequest) -> Result<ValidatedInstall, InstallError> {
    let mut errors = FieldErrors::default();
    let url = validate_url(&request.url, &mut errors);
    let consumer_key = request.consumer_key.trim();
    if consumer_key.is_empty() {
        errors.add("consumerKey", MSG_REQUIRED);
    } else if consumer_key.chars().count() > MAX_CONSUMER_KEY_LEN {
        errors.add("consumerKey", MSG_CONSUMER_KEY_TOO_LONG);
    }
    let private_key = if request.private_key.trim().is_empty() {
        errors.add("privateKey", MSG_REQUIRED);
        None
    } else if let Ok(key) = PrivateKey::from_pem(request.private_key.trim()) {
        Some(key)
    } else if looks_like_a_path(request.private_key.trim()) {
        errors.add("privateKey", MSG_PRIVATE_KEY_IS_A_PATH);
        None
    } else {
        errors.add("privateKey", MSG_INVALID_PRIVATE_KEY);
        None
    };
    match (url, private_key) {
        (Some((base_url, host)), Some(private_key)) if errors.0.is_empty() => {
            Ok(ValidatedInstall {
                base_url,
                host,
                consumer: Consumer {
                    consumer_key: consumer_key.to_owned(),
                    private_key,
                },
                verify_ssl: request.verify_ssl,
            })
        }
        _ => Err(InstallError::Validation(errors)),
    }
}

fn validate_url(url: &str, errors: &mut FieldErrors) -> Option<(String, String)> {
    if url.trim().is_empty() {
        errors.add("url", MSG_REQUIRED);
        return None;
    }
    if let Ok(ok) = normalize_base_url(url) {
        Some(ok)
    } else {
        errors.add("url", MSG_INVALID_URL);
        None
    }
}

/// State kept between the request token and the callback. Holds secrets (private key, request
/// token secret): persist it, never log or return it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PendingInstall {
    /// Base URL without trailing `/`.
    pub base_url: String,
    /// `host[:port]`.
    pub host: String,
    /// Check TLS certificates.
    pub verify_ssl: bool,
    /// Consumer key and private key.
    pub consumer: Consumer,
    /// The request token and its secret.
    pub request_token: TokenPair,
    /// Where the user approves access: `{base}/plugins/servlet/oauth/authorize?oauth_token=...`.
    pub authorize_url: String,
}

impl PendingInstall {
    /// The request token, which Jira's browser callback carries as `?oauth_token=`.
    pub fn oauth_token(&self) -> &str {
        &self.request_token.token
    }
}

/// Everything the server persists for an installed integration. Holds secrets.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Installed {
    /// `"{host[:port]}:{consumerKey}"` (OAuth) or `"{host[:port]}:pat:{username}"`, at most 64
    /// characters.
    pub external_id: String,
    /// Display name: the consumer key (OAuth, as Sentry) or `{username}@{host}` (PAT).
    pub name: String,
    /// Base URL without trailing `/`.
    pub base_url: String,
    /// `host[:port]` (Sentry's `domain_name`).
    pub domain_name: String,
    /// Check TLS certificates.
    pub verify_ssl: bool,
    /// Credentials for later calls.
    pub auth: Auth,
    /// The secret the webhook URL's JWT is signed with.
    pub webhook_secret: WebhookSecret,
    /// The registered webhook (for deletion); its `url` carries the token.
    pub webhook: WebhookRef,
    /// What `GET serverInfo` said at install time.
    pub server_info: ServerInfo,
}

impl Installed {
    /// A client for this integration's Jira with its credentials.
    pub fn client(&self, options: &ClientOptions) -> Result<JiraClient, JiraError> {
        let options = options.clone().with_verify_ssl(self.verify_ssl);
        JiraClient::with_options(&self.base_url, self.auth.clone(), &options)
    }
}

/// `"{host}:{suffix}"` cut to 64 characters (Unicode scalar values, as Python slices).
///
/// ```
/// use reference_server::jira::install::external_id;
/// let id = external_id("jira.example.com", "a-very-long-consumer-key-that-when-combined-with-the-host-is-longer");
/// assert_eq!(id, "jira.example.com:a-very-long-consumer-key-that-when-combined-wit");
/// assert_eq!(id.chars().count(), 64);
/// ```
pub fn external_id(host: &str, suffix: &str) -> String {
    format!("{host}:{suffix}")
        .chars()
        .take(MAX_EXTERNAL_ID_LEN)
        .collect()
}

/// `{public_url}/extensions/jira-server/issue-updated/{token}/` (trailing `/` of the public URL
/// ignored).
pub fn webhook_url(public_url: &str, token: &str) -> String {
    format!(
        "{}/extensions/jira-server/issue-updated/{token}/",
        public_url.trim_end_matches('/')
    )
}

/// Step 1: validate and fetch a request token. `callback` is sent as `oauth_callback` when
/// given (Sentry sends none and relies on the application link's callback URL).
pub async fn start_oauth(
    request: &InstallRequest,
    options: &ClientOptions,
    callback: Option<&str>,
) -> Result<PendingInstall, InstallError> {
    let valid = validate(request)?;
    let options = options.clone().with_verify_ssl(valid.verify_ssl);
    let setup = OAuthSetupClient::with_options(&valid.base_url, valid.consumer.clone(), &options)
        .map_err(InstallError::Client)?;
    let request_token = match setup.request_token(callback).await {
        Ok(token) => token,
        Err(JiraError::MissingOAuthToken { keys }) => {
            tracing::info!(url = %valid.base_url, data_keys = ?keys, "identity.jira-server.oauth-token");
            return Err(InstallError::MissingOAuthToken { keys });
        }
        Err(e) => return Err(InstallError::RequestToken(e)),
    };
    let authorize_url = setup.authorize_url(&request_token.token);
    Ok(PendingInstall {
        base_url: valid.base_url,
        host: valid.host,
        verify_ssl: valid.verify_ssl,
        consumer: valid.consumer,
        request_token,
        authorize_url,
    })
}

/// Step 2: exchange for an access token, register the webhook, return what to persist.
pub async fn complete_oauth(
    pending: &PendingInstall,
    verifier: &str,
    public_url: &str,
    options: &ClientOptions,
) -> Result<Installed, InstallError> {
    if verifier.trim().is_empty() {
        return Err(InstallError::MissingVerifier);
    }
    let options = options.clone().with_verify_ssl(pending.verify_ssl);
    let setup =
        OAuthSetupClient::with_options(&pending.base_url, pending.consumer.clone(), &options)
            .map_err(InstallError::Client)?;
    let access = setup
        .access_token(&pending.request_token, verifier)
        .await
        .map_err(InstallError::AccessToken)?;
    let auth = Auth::oauth1(pending.consumer.clone(), access);
    let client = JiraClient::with_options(&pending.base_url, auth.clone(), &options)
        .map_err(InstallError::Client)?;
    let external_id = external_id(&pending.host, &pending.consumer.consumer_key);
    finish(
        &client,
        auth,
        external_id,
        pending.consumer.consumer_key.clone(),
        public_url,
        pending.verify_ssl,
    )
    .await
}

/// Personal access token install: check the token (`GET /rest/api/2/myself`), register the
/// webhook, return what to persist.
pub async fn install_pat(
    request: &PatInstallRequest,
    public_url: &str,
    options: &ClientOptions,
) -> Result<Installed, InstallError> {
    let mut errors = FieldErrors::default();
    let url = validate_url(&request.url, &mut errors);
    if request.token.expose().trim().is_empty() {
        errors.add("token", MSG_REQUIRED);
    }
    let Some((base_url, host)) = url.filter(|_| errors.0.is_empty()) else {
        return Err(InstallError::Validation(errors));
    };
    let options = options.clone().with_verify_ssl(request.verify_ssl);
    let auth = Auth::personal_access_token(request.token.expose().trim());
    let client = JiraClient::with_options(&base_url, auth.clone(), &options)
        .map_err(InstallError::Client)?;
    let me: JiraUser = client
        .myself()
        .await
        .map_err(InstallError::PersonalAccessToken)?;
    let username = me
        .name
        .clone()
        .or(me.key.clone())
        .unwrap_or_else(|| "unknown".to_owned());
    let external_id = external_id(&host, &format!("pat:{username}"));
    finish(
        &client,
        auth,
        external_id,
        format!("{username}@{host}"),
        public_url,
        request.verify_ssl,
    )
    .await
}

async fn finish(
    client: &JiraClient,
    auth: Auth,
    external_id: String,
    name: String,
    public_url: &str,
    verify_ssl: bool,
) -> Result<Installed, InstallError> {
    let webhook_secret =
        WebhookSecret::generate().map_err(|e| InstallError::Random(e.to_string()))?;
    let token = webhook_token::issue(&external_id, webhook_secret.key());
    let spec = WebhookSpec::new(webhook_url(public_url, &token));
    let (server_info, webhook) = client.register_webhook(&spec).await.map_err(|e| {
        tracing::warn!(external_id = %external_id, error = %e, "jira-server.webhook.failed");
        InstallError::Webhook(e)
    })?;
    Ok(Installed {
        external_id,
        name,
        base_url: client.base_url().to_owned(),
        domain_name: client.host().to_owned(),
        verify_ssl,
        auth,
        webhook_secret,
        webhook,
        server_info,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_key_length_limit() {
        let long = "k".repeat(201);
        let err = validate(&InstallRequest::new(
            "https://jira.example.com",
            long,
            "",
            true,
        ))
        .unwrap_err();
        assert_eq!(
            err.fields().unwrap().get("consumerKey"),
            [MSG_CONSUMER_KEY_TOO_LONG]
        );
        assert!(err.fields().unwrap().get("consumerKey")[0].contains("200 characters"));
    }

    #[test]
    fn webhook_url_shape() {
        assert_eq!(
            webhook_url("http://127.0.0.1:8080/", "a.b.c"),
            "http://127.0.0.1:8080/extensions/jira-server/issue-updated/a.b.c/"
        );
    }

    #[test]
    fn webhook_error_message_uses_jira_text() {
        let forbidden = JiraError::status_from_body(
            403,
            include_bytes!(
                "../../tests/fixtures/jira/test_setup_create_webhook_failure_forbidden.json"
            ),
        );
        assert_eq!(
            InstallError::Webhook(forbidden).to_string(),
            "Could not create issue webhook in Jira. You do not have permission to create WebHook 'Sentry Issue Sync'."
        );
        let bad_gateway = JiraError::status_from_body(502, b"Bad things");
        assert_eq!(
            InstallError::Webhook(bad_gateway).to_string(),
            "Could not create issue webhook in Jira. Jira answered 502"
        );
    }

    #[test]
    fn pending_install_debug_hides_secrets() {
        let pending = PendingInstall {
            base_url: "https://jira.example.com".into(),
            host: "jira.example.com".into(),
            verify_ssl: true,
            consumer: Consumer {
                consumer_key: "ck".into(),
                private_key: PrivateKey::from_pem(include_str!(
                    "../../tests/fixtures/jira/consumer_private_key.pem"
                ))
                .unwrap(),
            },
            request_token: TokenPair {
                token: "req".into(),
                secret: SecretString::new("very-secret"),
            },
            authorize_url: String::new(),
        };
        let debug = format!("{pending:?}");
        assert!(!debug.contains("very-secret"));
        assert!(!debug.contains("PRIVATE KEY"));
    }
}
