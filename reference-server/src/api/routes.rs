//! The admin API's paths: each endpoint's pattern under `/api/v1` (matchit syntax) and the
//! methods it answers. [`find`] matches a request path: an unknown path is 404, a known path
//! with another method is 405 with `Allow` (the caller checks [`Found::methods`]).

use std::borrow::Cow;
use std::sync::LazyLock;

use http::Method;

use crate::http::error::ApiError;

/// One endpoint of the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    InstallStart,
    InstallCallback,
    InstallPat,
    Integrations,
    Integration,
    Organization,
    Organizations,
    UserMapping,
    Deliveries,
    DeadLetters,
    DeadLetter,
    DeadLetterRetry,
    User,
    Project,
    Group,
    GroupLink,
    GroupResetWatermarks,
    ImportLinks,
}

const GET: &[Method] = &[Method::GET];
const PUT_GET: &[Method] = &[Method::GET, Method::PUT];
const POST: &[Method] = &[Method::POST];

/// Pattern, endpoint, methods.
const TABLE: &[(&str, Endpoint, &[Method])] = &[
    (
        "/integrations/jira-server/install",
        Endpoint::InstallStart,
        POST,
    ),
    (
        "/integrations/jira-server/install/{pipeline}/callback",
        Endpoint::InstallCallback,
        POST,
    ),
    (
        "/integrations/jira-server/install-pat",
        Endpoint::InstallPat,
        POST,
    ),
    ("/integrations", Endpoint::Integrations, GET),
    (
        "/integrations/{id}",
        Endpoint::Integration,
        &[Method::GET, Method::DELETE],
    ),
    (
        "/integrations/{id}/organizations/{org}",
        Endpoint::Organization,
        &[Method::PUT],
    ),
    (
        "/integrations/{id}/organizations",
        Endpoint::Organizations,
        GET,
    ),
    (
        "/integrations/{id}/user-mappings/{jira_user}",
        Endpoint::UserMapping,
        &[Method::PUT],
    ),
    ("/integrations/{id}/deliveries", Endpoint::Deliveries, GET),
    (
        "/integrations/{id}/dead-letters",
        Endpoint::DeadLetters,
        GET,
    ),
    (
        "/integrations/{id}/dead-letters/{delivery}",
        Endpoint::DeadLetter,
        &[Method::DELETE],
    ),
    (
        "/integrations/{id}/dead-letters/{delivery}/retry",
        Endpoint::DeadLetterRetry,
        POST,
    ),
    ("/users/{id}", Endpoint::User, PUT_GET),
    ("/projects/{id}", Endpoint::Project, PUT_GET),
    ("/groups/{id}", Endpoint::Group, PUT_GET),
    (
        "/groups/{id}/external-issues/{integration}/{key}",
        Endpoint::GroupLink,
        &[Method::PUT, Method::DELETE],
    ),
    (
        "/groups/{id}/reset-watermarks",
        Endpoint::GroupResetWatermarks,
        POST,
    ),
    ("/import/links", Endpoint::ImportLinks, POST),
];

static ROUTER: LazyLock<matchit::Router<usize>> = LazyLock::new(|| {
    let mut router = matchit::Router::new();
    for (index, (pattern, _, _)) in TABLE.iter().enumerate() {
        router
            .insert(*pattern, index)
            .unwrap_or_else(|e| panic!("admin API route {pattern}: {e}"));
    }
    router
});

/// A matched path.
#[derive(Debug)]
pub(crate) struct Found {
    pub(crate) endpoint: Endpoint,
    /// The methods the path answers.
    pub(crate) methods: &'static [Method],
    params: Vec<(&'static str, String)>,
}

impl Found {
    /// A path parameter, percent-decoded.
    pub(crate) fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(k, _)| *k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// Matches `rest`, the path after `/api/v1/` (empty segments are ignored, as a trailing
/// slash is). 404 for an unknown path, 400 for a parameter that is not percent-encoded UTF-8.
pub(crate) fn find(rest: &str) -> Result<Found, ApiError> {
    let path: String = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .flat_map(|s| ["/", s])
        .collect();
    let not_found = || ApiError::not_found("No such API path.");
    let matched = ROUTER.at(&path).map_err(|_| not_found())?;
    let (_, endpoint, methods) = TABLE.get(*matched.value).ok_or_else(not_found)?;
    let params = matched
        .params
        .iter()
        .map(|(name, raw)| {
            let value = percent_encoding::percent_decode_str(raw)
                .decode_utf8()
                .map(Cow::into_owned)
                .map_err(|_| {
                    ApiError::bad_request("The path is not valid percent-encoded UTF-8.")
                })?;
            Ok((name, value))
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Found {
        endpoint: *endpoint,
        methods,
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_is_reachable() {
        for (pattern, endpoint, _) in TABLE {
            let concrete = pattern.replace('{', "x").replace('}', "");
            let found = find(&concrete).unwrap_or_else(|e| panic!("{pattern}: {e:?}"));
            assert_eq!(found.endpoint, *endpoint, "{pattern}");
        }
    }

    #[test]
    fn parameters_are_decoded_and_static_segments_win() {
        let found = find("users/a%40b/").expect("found");
        assert_eq!(found.endpoint, Endpoint::User);
        assert_eq!(found.param("id"), "a@b");
        let found = find("groups/g%2F1/external-issues/1/APP-1").expect("found");
        assert_eq!(found.endpoint, Endpoint::GroupLink);
        assert_eq!(
            (
                found.param("id"),
                found.param("integration"),
                found.param("key")
            ),
            ("g/1", "1", "APP-1")
        );
        assert_eq!(
            find("integrations/jira-server/install-pat")
                .expect("found")
                .endpoint,
            Endpoint::InstallPat
        );
        assert_eq!(
            find("integrations/7").expect("found").methods,
            [Method::GET, Method::DELETE]
        );
    }

    #[test]
    fn unknown_paths_and_bad_encoding() {
        assert_eq!(
            find("nope").expect_err("unknown").status,
            http::StatusCode::NOT_FOUND
        );
        assert_eq!(
            find("users/a/b").expect_err("unknown").status,
            http::StatusCode::NOT_FOUND
        );
        assert_eq!(
            find("users/%FF").expect_err("bad").status,
            http::StatusCode::BAD_REQUEST
        );
    }
}
