//! Users: `GET /rest/api/2/myself` (who the credentials act as) and
//! `GET /rest/api/2/user?username=` / `?key=` (look-ups).

use serde::{Deserialize, Serialize};

use crate::{Auth, BaseUrl, JiraError};

/// Operation name of [`myself_request`].
pub const MYSELF: &str = "myself";
/// Operation name of [`UserQuery::Username`].
pub const BY_USERNAME: &str = "userByUsername";
/// Operation name of [`UserQuery::Key`].
pub const BY_KEY: &str = "userByKey";

/// A Jira Server/DC user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct JiraUser {
    /// Username (`name`), what Server's REST API identifies users by.
    #[serde(default)]
    pub name: Option<String>,
    /// Stable user key (e.g. `JIRAUSER10002`).
    #[serde(default)]
    pub key: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// E-mail address as Jira shows it (may be hidden or masked).
    #[serde(default)]
    pub email_address: Option<String>,
    /// Whether the account is active.
    #[serde(default)]
    pub active: Option<bool>,
}

impl JiraUser {
    /// The e-mail address if it looks like one: non-empty, with an `@` and no spaces (Jira's
    /// "masked" visibility shows `bob at example dot com`, which is not usable).
    ///
    /// ```
    /// use jira_client::JiraUser;
    /// let user: JiraUser = serde_json::from_str(r#"{"name":"bob","emailAddress":"bob at example dot com"}"#).unwrap();
    /// assert_eq!(user.email(), None);
    /// ```
    pub fn email(&self) -> Option<&str> {
        let email = self.email_address.as_deref()?.trim();
        (email.contains('@') && !email.contains(char::is_whitespace)).then_some(email)
    }
}

/// `GET /rest/api/2/myself`.
pub fn myself_request(base: &BaseUrl, auth: &Auth) -> Result<http::Request<Vec<u8>>, JiraError> {
    super::rest(
        http::Method::GET,
        base,
        auth,
        "/rest/api/2/myself",
        &[],
        None,
    )
}

/// Parses the `myself` answer.
pub fn parse_myself<B: AsRef<[u8]>>(response: &http::Response<B>) -> Result<JiraUser, JiraError> {
    super::json(MYSELF, response)
}

/// How to find a user.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum UserQuery<'a> {
    /// `?username=`
    Username(&'a str),
    /// `?key=`
    Key(&'a str),
}

impl UserQuery<'_> {
    /// The operation name for observers.
    pub fn operation(&self) -> &'static str {
        match self {
            Self::Username(_) => BY_USERNAME,
            Self::Key(_) => BY_KEY,
        }
    }
}

/// `GET /rest/api/2/user?username=<name>` or `?key=<key>`.
pub fn user_request(
    base: &BaseUrl,
    auth: &Auth,
    query: UserQuery<'_>,
) -> Result<http::Request<Vec<u8>>, JiraError> {
    let pair = match query {
        UserQuery::Username(name) => ("username", name),
        UserQuery::Key(key) => ("key", key),
    };
    super::rest(
        http::Method::GET,
        base,
        auth,
        "/rest/api/2/user",
        &[pair],
        None,
    )
}

/// Parses a user look-up: `Ok(None)` when Jira answers 404 (no such user).
pub fn parse_user<B: AsRef<[u8]>>(
    query: UserQuery<'_>,
    response: &http::Response<B>,
) -> Result<Option<JiraUser>, JiraError> {
    match super::json(query.operation(), response) {
        Ok(user) => Ok(Some(user)),
        Err(JiraError::Status { status: 404, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}
