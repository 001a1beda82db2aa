//! `GET /rest/api/2/status`: every status with its category key.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Auth, BaseUrl, JiraError};

/// Operation name for observers.
pub const OPERATION: &str = "statuses";

/// One status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct JiraStatus {
    /// Status id, e.g. `"10002"`.
    pub id: String,
    /// Display name, e.g. `"Done"`.
    pub name: String,
    /// Status category key: `new`, `indeterminate`, `done` or `undefined` (open set).
    pub category_key: Option<String>,
}

/// The request.
pub fn request(base: &BaseUrl, auth: &Auth) -> Result<http::Request<Vec<u8>>, JiraError> {
    super::rest(
        http::Method::GET,
        base,
        auth,
        "/rest/api/2/status",
        &[],
        None,
    )
}

/// Parses the answer: entries without a string or numeric `id` are skipped.
pub fn parse<B: AsRef<[u8]>>(response: &http::Response<B>) -> Result<Vec<JiraStatus>, JiraError> {
    let raw: Vec<Value> = super::json(OPERATION, response)?;
    let mut statuses = Vec::with_capacity(raw.len());
    for entry in raw {
        let id = match entry.get("id") {
            Some(Value::String(id)) => id.clone(),
            Some(Value::Number(id)) => id.to_string(),
            _ => continue,
        };
        statuses.push(JiraStatus {
            id,
            name: entry
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            category_key: entry
                .get("statusCategory")
                .and_then(|c| c.get("key"))
                .and_then(Value::as_str)
                .map(str::to_owned),
        });
    }
    Ok(statuses)
}
