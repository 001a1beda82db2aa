//! The operations, one module per Jira resource. Each builds a ready-to-send
//! `http::Request<Vec<u8>>` (absolute URI, `Accept`, body, `Authorization` from [`Auth`]) and
//! parses an `http::Response` into a typed result or a [`JiraError`]. No I/O: send the
//! requests with any HTTP client, or with [`JiraClient`](crate::JiraClient) (feature `reqwest`).
//!
//! Build a request per attempt: an OAuth-signed request carries a nonce and must not be sent
//! twice.
//!
//! ```
//! use jira_client::{ops, Auth, BaseUrl};
//!
//! let base = BaseUrl::parse("https://jira.example.com")?;
//! let auth = Auth::personal_access_token("NjQ2");
//! let request = ops::server_info::request(&base, &auth)?;
//! assert_eq!(request.uri(), "https://jira.example.com/rest/api/2/serverInfo");
//!
//! // ... send it, then:
//! let response = http::Response::builder()
//!     .status(200)
//!     .body(br#"{"version":"10.3.6","versionNumbers":[10,3,6]}"#.to_vec())?;
//! let info = ops::server_info::parse(&response)?;
//! assert_eq!(info.webhook_api(), ops::webhooks::WebhookApi::JiraWebhook1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod oauth;
pub mod server_info;
pub mod statuses;
pub mod users;
pub mod webhooks;

use serde::de::DeserializeOwned;

use crate::{Auth, BaseUrl, JiraError};

/// A REST request without body, authorised.
fn rest(
    method: http::Method,
    base: &BaseUrl,
    auth: &Auth,
    path: &str,
    query: &[(&str, &str)],
    json_body: Option<Vec<u8>>,
) -> Result<http::Request<Vec<u8>>, JiraError> {
    let url = base.url(path, query);
    let mut builder = http::Request::builder()
        .method(method)
        .uri(&url)
        .header(http::header::ACCEPT, "application/json");
    if json_body.is_some() {
        builder = builder.header(http::header::CONTENT_TYPE, "application/json");
    }
    let mut request =
        builder
            .body(json_body.unwrap_or_default())
            .map_err(|e| JiraError::InvalidBaseUrl {
                url: url.clone(),
                reason: e.to_string(),
            })?;
    auth.authorize(&mut request)?;
    Ok(request)
}

/// The body of a 2xx answer; a redirect becomes [`JiraError::Redirect`], anything else
/// [`JiraError::Status`] with Jira's messages.
///
/// ```
/// let moved = http::Response::builder().status(302).header("location", "https://x/").body(Vec::new())?;
/// assert_eq!(jira_client::ops::check_status(&moved).unwrap_err().status(), Some(302));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check_status<B: AsRef<[u8]>>(response: &http::Response<B>) -> Result<&[u8], JiraError> {
    let status = response.status().as_u16();
    let body = response.body().as_ref();
    match status {
        200..=299 => Ok(body),
        300..=399 => Err(JiraError::Redirect {
            status,
            location: response
                .headers()
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }),
        _ => Err(JiraError::status_from_body(status, body)),
    }
}

/// A 2xx JSON body as `T`.
fn json<T: DeserializeOwned, B: AsRef<[u8]>>(
    operation: &'static str,
    response: &http::Response<B>,
) -> Result<T, JiraError> {
    let body = check_status(response)?;
    serde_json::from_slice(body).map_err(|e| JiraError::InvalidResponse {
        operation,
        reason: e.to_string(),
    })
}
