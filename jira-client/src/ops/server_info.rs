//! `GET /rest/api/2/serverInfo`: version and deployment of the Jira instance.

use serde::{Deserialize, Serialize};

use super::webhooks::WebhookApi;
use crate::{Auth, BaseUrl, JiraError};

/// Operation name for observers.
pub const OPERATION: &str = "serverInfo";

/// What `serverInfo` says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ServerInfo {
    /// Jira's own idea of its base URL.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Version string, e.g. `9.12.2` or `10.3.6`.
    #[serde(default)]
    pub version: String,
    /// Version numbers, e.g. `[10, 3, 6]` (absent in some mocks).
    #[serde(default)]
    pub version_numbers: Vec<u64>,
    /// `Server` for Server and Data Center, `Cloud` on Cloud.
    #[serde(default)]
    pub deployment_type: Option<String>,
    /// The instance's title (Sentry renames the integration to it).
    #[serde(default)]
    pub server_title: Option<String>,
}

impl ServerInfo {
    /// Major version from `versionNumbers[0]`, else from the leading digits of `version`.
    ///
    /// ```
    /// use jira_client::ServerInfo;
    /// let v10: ServerInfo = serde_json::from_str(r#"{"baseUrl":"https://jira.example.com","version":"10.0.1"}"#).unwrap();
    /// assert_eq!(v10.major_version(), Some(10));
    /// ```
    pub fn major_version(&self) -> Option<u64> {
        if let Some(major) = self.version_numbers.first() {
            return Some(*major);
        }
        let digits: String = self
            .version
            .trim()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    }

    /// Which webhook REST resource this version uses.
    pub fn webhook_api(&self) -> WebhookApi {
        WebhookApi::for_major_version(self.major_version().unwrap_or(0))
    }
}

/// The request.
pub fn request(base: &BaseUrl, auth: &Auth) -> Result<http::Request<Vec<u8>>, JiraError> {
    super::rest(
        http::Method::GET,
        base,
        auth,
        "/rest/api/2/serverInfo",
        &[],
        None,
    )
}

/// Parses the answer.
pub fn parse<B: AsRef<[u8]>>(response: &http::Response<B>) -> Result<ServerInfo, JiraError> {
    super::json(OPERATION, response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_version_from_string_or_numbers() {
        let v9: ServerInfo =
            serde_json::from_str(r#"{"baseUrl": "https://jira.example.com", "version": "9.9.9"}"#)
                .unwrap();
        assert_eq!(v9.major_version(), Some(9));
        assert_eq!(v9.webhook_api(), WebhookApi::Webhooks1);
        let v11: ServerInfo =
            serde_json::from_str(r#"{"version": "x", "versionNumbers": [11, 0, 0]}"#).unwrap();
        assert_eq!(v11.webhook_api(), WebhookApi::JiraWebhook1);
        let unknown: ServerInfo = serde_json::from_str("{}").unwrap();
        assert_eq!(unknown.major_version(), None);
        assert_eq!(unknown.webhook_api(), WebhookApi::Webhooks1);
    }
}
