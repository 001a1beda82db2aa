//! [`JiraClient`]: the REST calls with stored credentials, sent by the reqwest adapter.

use std::sync::Arc;

use serde_json::Value;

use crate::ops::users::UserQuery;
use crate::ops::{server_info, statuses, users, webhooks};
use crate::transport::{ClientOptions, Transport};
use crate::{
    Auth, BaseUrl, JiraError, JiraStatus, JiraUser, ServerInfo, WebhookApi, WebhookDeletion,
    WebhookRef, WebhookSpec,
};

/// Client for Jira REST calls made with stored credentials. Cheap to clone.
///
/// Each method builds the request with [`ops`](crate::ops) (signing it afresh), sends it once
/// and parses the answer.
///
/// ```no_run
/// # async fn demo() -> Result<(), jira_client::JiraError> {
/// use jira_client::{Auth, JiraClient};
/// let client = JiraClient::new("https://jira.example.com", true, Auth::personal_access_token("NjQ2..."))?;
/// let info = client.server_info().await?;
/// println!("Jira {} (major {:?})", info.version, info.major_version());
/// let statuses = client.statuses().await?;
/// let bob = client.user_by_username("bob").await?;
/// # let _ = (statuses, bob); Ok(()) }
/// ```
#[derive(Clone)]
pub struct JiraClient {
    transport: Transport,
    auth: Arc<Auth>,
}

impl std::fmt::Debug for JiraClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JiraClient")
            .field("base_url", &self.base_url())
            .field("auth", &self.auth.kind())
            .finish_non_exhaustive()
    }
}

impl JiraClient {
    /// A client for `base_url` (trailing `/` ignored) with default options.
    pub fn new(base_url: &str, verify_ssl: bool, auth: Auth) -> Result<Self, JiraError> {
        Self::with_options(base_url, auth, &ClientOptions::verify_ssl(verify_ssl))
    }

    /// A client with explicit options (timeout, observer).
    pub fn with_options(
        base_url: &str,
        auth: Auth,
        options: &ClientOptions,
    ) -> Result<Self, JiraError> {
        Ok(Self {
            transport: Transport::new(base_url, options)?,
            auth: Arc::new(auth),
        })
    }

    /// The normalised base URL (no trailing `/`).
    pub fn base_url(&self) -> &str {
        self.base().as_str()
    }

    /// `host[:port]` of the base URL.
    pub fn host(&self) -> &str {
        self.base().host()
    }

    /// The validated base URL, for building requests with [`ops`](crate::ops).
    pub fn base(&self) -> &BaseUrl {
        self.transport.base()
    }

    /// The credentials.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// Sends a request built with [`ops`](crate::ops) (or by hand) once; any answer is `Ok`.
    pub async fn send(
        &self,
        operation: &'static str,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, JiraError> {
        self.transport.send(operation, request).await
    }

    /// `GET /rest/api/2/serverInfo`.
    pub async fn server_info(&self) -> Result<ServerInfo, JiraError> {
        let request = server_info::request(self.base(), &self.auth)?;
        server_info::parse(&self.send(server_info::OPERATION, request).await?)
    }

    /// `GET /rest/api/2/myself`: the user the credentials act as (a cheap credential check).
    pub async fn myself(&self) -> Result<JiraUser, JiraError> {
        let request = users::myself_request(self.base(), &self.auth)?;
        users::parse_myself(&self.send(users::MYSELF, request).await?)
    }

    /// `GET /rest/api/2/status`: every status with its category key.
    pub async fn statuses(&self) -> Result<Vec<JiraStatus>, JiraError> {
        let request = statuses::request(self.base(), &self.auth)?;
        statuses::parse(&self.send(statuses::OPERATION, request).await?)
    }

    /// `GET /rest/api/2/user?username=<name>`; `Ok(None)` when Jira answers 404.
    pub async fn user_by_username(&self, username: &str) -> Result<Option<JiraUser>, JiraError> {
        self.user(UserQuery::Username(username)).await
    }

    /// `GET /rest/api/2/user?key=<key>`; `Ok(None)` when Jira answers 404.
    pub async fn user_by_key(&self, key: &str) -> Result<Option<JiraUser>, JiraError> {
        self.user(UserQuery::Key(key)).await
    }

    async fn user(&self, query: UserQuery<'_>) -> Result<Option<JiraUser>, JiraError> {
        let request = users::user_request(self.base(), &self.auth, query)?;
        users::parse_user(query, &self.send(query.operation(), request).await?)
    }

    /// Registers a webhook at the given resource. Any 2xx is success; a 204 or a body without
    /// `id`/`self` gives a [`WebhookRef`] without id (deletion then finds it by URL).
    pub async fn create_webhook(
        &self,
        api: WebhookApi,
        spec: &WebhookSpec,
    ) -> Result<WebhookRef, JiraError> {
        let request = webhooks::create_request(self.base(), &self.auth, api, spec)?;
        webhooks::parse_create(api, spec, &self.send(webhooks::CREATE, request).await?)
    }

    /// Sentry's registration flow: `GET serverInfo`, then create the webhook at the resource
    /// that version uses. Returns both so the caller can keep the server info.
    pub async fn register_webhook(
        &self,
        spec: &WebhookSpec,
    ) -> Result<(ServerInfo, WebhookRef), JiraError> {
        let info = self.server_info().await?;
        let webhook = self.create_webhook(info.webhook_api(), spec).await?;
        Ok((info, webhook))
    }

    /// Deletes a webhook. Without an id, the collection is listed and every webhook with the
    /// same URL is deleted.
    ///
    /// A 404 (or no webhook with that URL) at the resource recorded at install is not taken as
    /// "already gone" at once: after an upgrade across Jira 10 (or a downgrade) that resource
    /// answers 404 while the webhook lives on at the other one. So `GET serverInfo` is asked
    /// which resource this Jira uses now; when it is the other one, the webhook is looked up
    /// there by its URL (ids need not carry over) and deleted. Only then is the answer
    /// [`WebhookDeletion::AlreadyGone`]; a failure of `serverInfo` or of the other resource is
    /// an error, never "already gone".
    pub async fn delete_webhook(&self, webhook: &WebhookRef) -> Result<WebhookDeletion, JiraError> {
        if self.delete_webhook_at(webhook).await? == WebhookDeletion::Deleted {
            return Ok(WebhookDeletion::Deleted);
        }
        let current = self.server_info().await?.webhook_api();
        if current == webhook.api {
            return Ok(WebhookDeletion::AlreadyGone);
        }
        let moved = WebhookRef {
            api: current,
            id: None,
            url: webhook.url.clone(),
        };
        self.delete_webhook_at(&moved).await
    }

    /// Deletes at the webhook's own resource only: by id, or every webhook with its URL.
    /// 404 (for the webhook or, when listing, for the whole resource) is
    /// [`WebhookDeletion::AlreadyGone`].
    async fn delete_webhook_at(&self, webhook: &WebhookRef) -> Result<WebhookDeletion, JiraError> {
        let ids = match &webhook.id {
            Some(id) => vec![id.clone()],
            None => match self.list_webhooks(webhook.api).await {
                Ok(list) => webhooks::ids_with_url(&list, &webhook.url),
                Err(JiraError::Status { status: 404, .. }) => Vec::new(),
                Err(e) => return Err(e),
            },
        };
        let mut outcome = WebhookDeletion::AlreadyGone;
        for id in ids {
            let request = webhooks::delete_request(self.base(), &self.auth, webhook.api, &id)?;
            if webhooks::parse_delete(&self.send(webhooks::DELETE, request).await?)?
                == WebhookDeletion::Deleted
            {
                outcome = WebhookDeletion::Deleted;
            }
        }
        Ok(outcome)
    }

    /// Lists the webhooks at `api` (`GET` on the collection) as raw JSON objects.
    pub async fn list_webhooks(&self, api: WebhookApi) -> Result<Vec<Value>, JiraError> {
        let request = webhooks::list_request(self.base(), &self.auth, api)?;
        webhooks::parse_list(&self.send(webhooks::LIST, request).await?)
    }
}
