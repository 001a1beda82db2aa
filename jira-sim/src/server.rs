//! HTTP side of the simulated Jira: accept loop, authentication and routes.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use jira_oauth::{Body, RequestParts, VerifyKey, parse_authorization_header};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::payload::{self, find_user, issue_json, status_json, user_json};
use super::{AccessToken, RecordedRequest, RequestToken, Shared, SimWebhook};

const MAX_BODY: usize = 1024 * 1024;
#[allow(clippy::duration_suboptimal_units)] // from_mins is const only since 1.91 (MSRV 1.88)
pub(crate) const TIMESTAMP_WINDOW: Duration = Duration::from_secs(300);

pub(super) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(handle(&shared, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

type Resp = Response<Full<Bytes>>;

fn response(status: u16, content_type: &str, body: impl Into<Bytes>) -> Resp {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(value) = header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

fn json_response(status: u16, body: &Value) -> Resp {
    response(status, "application/json;charset=UTF-8", body.to_string())
}

fn error_collection(status: u16, message: &str) -> Resp {
    json_response(status, &json!({"errorMessages": [message], "errors": {}}))
}

fn oauth_problem(problem: &str) -> Resp {
    let mut resp = response(
        401,
        "text/plain;charset=UTF-8",
        format!("oauth_problem={problem}"),
    );
    if let Ok(value) =
        header::HeaderValue::from_str(&format!("OAuth realm=\"\", oauth_problem=\"{problem}\""))
    {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    resp
}

fn empty(status: u16) -> Resp {
    response(status, "text/plain", Bytes::new())
}

fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; len];
    if getrandom::fill(&mut bytes).is_err() {
        // The OS source failed: fall back to the clock (test tool only).
        let seed = payload::now_ms();
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::try_from((seed >> (i % 8)) & 0xff).unwrap_or(0)
                ^ u8::try_from(i % 251).unwrap_or(0);
        }
    }
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

/// Who a request acts as.
enum Caller {
    Anonymous,
    User(String),
}

/// A request with its body read.
struct Incoming2 {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
    url: String,
}

impl Incoming2 {
    fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    fn parts(&self) -> RequestParts<'_> {
        let content_type = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        RequestParts::new(self.method.as_str(), &self.url)
            .with_body(Body::from_content_type(content_type, &self.body))
    }
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return error_collection(413, "Request body too large"),
    };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map_or_else(
            || shared.base_url.trim_start_matches("http://").to_owned(),
            str::to_owned,
        );
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let request = Incoming2 {
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        url: format!("http://{host}{path_and_query}"),
        headers: parts.headers,
        body,
    };
    let authorization = request
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (auth_scheme, nonce) = if authorization.starts_with("OAuth ") {
        let nonce = parse_authorization_header(&authorization)
            .ok()
            .and_then(|p| p.nonce().map(str::to_owned));
        ("oauth", nonce)
    } else if authorization.starts_with("Bearer ") {
        ("bearer", None)
    } else if authorization.is_empty() {
        ("none", None)
    } else {
        ("other", None)
    };
    let down = shared.lock().down;
    let resp = if down {
        response(
            503,
            "text/html",
            "<html><body>Service Unavailable</body></html>",
        )
    } else {
        route(shared, &request)
    };
    shared.lock().requests.push(RecordedRequest {
        method: request.method.to_string(),
        path_and_query,
        auth_scheme,
        nonce,
        status: resp.status().as_u16(),
    });
    resp
}

/// Verifies an OAuth request's signature, timestamp and nonce; returns (consumer key, token).
fn verify_oauth(
    shared: &Shared,
    request: &Incoming2,
) -> Result<(String, Option<String>), Box<Resp>> {
    let authorization = request
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let params = parse_authorization_header(authorization)
        .map_err(|_| Box::new(oauth_problem("parameter_rejected")))?;
    let consumer_key = params
        .consumer_key()
        .ok_or_else(|| Box::new(oauth_problem("parameter_absent")))?;
    let public_key = shared
        .public_keys
        .get(consumer_key)
        .ok_or_else(|| Box::new(oauth_problem("consumer_key_unknown")))?;
    let now = jira_oauth::unix_now().map_err(|_| Box::new(oauth_problem("timestamp_refused")))?;
    // Nonces older than the timestamp window can never be accepted again anyway.
    shared
        .nonces
        .prune_before(now.saturating_sub(2 * TIMESTAMP_WINDOW.as_secs()));
    let verified = jira_oauth::verify(
        &request.parts(),
        &params,
        &VerifyKey::RsaSha1(public_key),
        &shared.nonces,
        now,
        TIMESTAMP_WINDOW,
    )
    .map_err(|e| Box::new(oauth_problem(e.oauth_problem())))?;
    Ok((verified.consumer_key, verified.token))
}

/// Authenticates a REST call: OAuth with an access token, a PAT, or nobody.
fn authenticate(shared: &Shared, request: &Incoming2) -> Result<Caller, Box<Resp>> {
    let authorization = request
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if authorization.is_empty() {
        return Ok(Caller::Anonymous);
    }
    if let Some(token) = authorization.strip_prefix("Bearer ") {
        let state = shared.lock();
        return match state.config.personal_access_tokens.get(token.trim()) {
            Some(user) => Ok(Caller::User(user.clone())),
            None => Err(Box::new(error_collection(
                401,
                "You are not authenticated. Authentication required to perform this operation.",
            ))),
        };
    }
    if authorization.starts_with("OAuth ") {
        let (consumer_key, token) = verify_oauth(shared, request)?;
        let state = shared.lock();
        let access = token
            .as_deref()
            .and_then(|t| state.access_tokens.get(t))
            .filter(|a| a.consumer_key == consumer_key)
            .ok_or_else(|| Box::new(oauth_problem("token_rejected")))?;
        return Ok(Caller::User(access.user.clone()));
    }
    Err(Box::new(error_collection(
        401,
        "Unsupported authentication scheme",
    )))
}

fn require_user(caller: &Caller) -> Result<&str, Box<Resp>> {
    match caller {
        Caller::User(name) => Ok(name),
        Caller::Anonymous => Err(Box::new(error_collection(
            401,
            "You are not authenticated. Authentication required to perform this operation.",
        ))),
    }
}

fn route(shared: &Shared, request: &Incoming2) -> Resp {
    let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    let method = request.method.clone();
    match (method, segments.as_slice()) {
        (Method::POST, ["plugins", "servlet", "oauth", "request-token"]) => {
            request_token(shared, request)
        }
        (Method::GET, ["plugins", "servlet", "oauth", "authorize"]) => authorize(shared, request),
        (Method::POST, ["plugins", "servlet", "oauth", "access-token"]) => {
            access_token(shared, request)
        }
        _ => match authenticate(shared, request) {
            Ok(caller) => rest(shared, request, &caller, &segments),
            Err(resp) => *resp,
        },
    }
}

fn request_token(shared: &Shared, request: &Incoming2) -> Resp {
    let authorization = request
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let callback = parse_authorization_header(authorization)
        .ok()
        .and_then(|p| p.callback().map(str::to_owned))
        .filter(|cb| cb != "oob");
    let (consumer_key, token) = match verify_oauth(shared, request) {
        Ok(ok) => ok,
        Err(resp) => return *resp,
    };
    if token.is_some() {
        return oauth_problem("token_rejected");
    }
    let token = random_token(32);
    let secret = random_token(32);
    shared.lock().request_tokens.insert(
        token.clone(),
        RequestToken {
            consumer_key,
            callback,
            verifier: random_token(16),
            approved: false,
        },
    );
    response(
        200,
        "text/plain;charset=UTF-8",
        format!("oauth_token={token}&oauth_token_secret={secret}&oauth_callback_confirmed=true"),
    )
}

fn authorize(shared: &Shared, request: &Incoming2) -> Resp {
    let Some(token) = request.query_param("oauth_token") else {
        return response(
            400,
            "text/html",
            "<html><body>Missing oauth_token</body></html>",
        );
    };
    let mut state = shared.lock();
    let default_callback = state.config.oauth_callback.clone();
    let Some(pending) = state.request_tokens.get_mut(&token) else {
        return response(
            400,
            "text/html",
            "<html><body>The request token is invalid or expired.</body></html>",
        );
    };
    pending.approved = true;
    let callback = pending.callback.clone().or(default_callback);
    let verifier = pending.verifier.clone();
    drop(state);
    match callback {
        Some(cb) => {
            let separator = if cb.contains('?') { '&' } else { '?' };
            let location = format!("{cb}{separator}oauth_token={token}&oauth_verifier={verifier}");
            let mut resp = response(302, "text/html", Bytes::new());
            if let Ok(value) = header::HeaderValue::from_str(&location) {
                resp.headers_mut().insert(header::LOCATION, value);
            }
            resp
        }
        None => response(
            200,
            "text/html;charset=UTF-8",
            format!(
                "<html><body><h1>Access Approved</h1><p>You have successfully authorized the application. \
                 Verification code: <code>{verifier}</code></p></body></html>"
            ),
        ),
    }
}

fn access_token(shared: &Shared, request: &Incoming2) -> Resp {
    let authorization = request
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let verifier = parse_authorization_header(authorization)
        .ok()
        .and_then(|p| p.verifier().map(str::to_owned));
    let (consumer_key, token) = match verify_oauth(shared, request) {
        Ok(ok) => ok,
        Err(resp) => return *resp,
    };
    let Some(token) = token else {
        return oauth_problem("parameter_absent");
    };
    let mut state = shared.lock();
    let auto_approve = state.config.auto_approve;
    let Some(pending) = state.request_tokens.get(&token) else {
        return oauth_problem("token_rejected");
    };
    if pending.consumer_key != consumer_key {
        return oauth_problem("token_rejected");
    }
    if !pending.approved && !auto_approve {
        return oauth_problem("permission_unknown");
    }
    // Real Jira accepts the request token itself as verifier when no callback was registered
    // (OAuth 1.0 behaviour); Sentry relies on that.
    let verifier_ok = match verifier.as_deref() {
        Some(v) => v == pending.verifier || (pending.callback.is_none() && v == token),
        None => pending.callback.is_none(),
    };
    if !verifier_ok {
        return oauth_problem("parameter_rejected");
    }
    state.request_tokens.remove(&token);
    let access = random_token(32);
    let secret = random_token(32);
    let user = state.config.oauth_user.clone();
    state
        .access_tokens
        .insert(access.clone(), AccessToken { consumer_key, user });
    response(
        200,
        "text/plain;charset=UTF-8",
        format!("oauth_token={access}&oauth_token_secret={secret}"),
    )
}

fn major_version(version: &str) -> u64 {
    version
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or(0)
}

fn rest(shared: &Shared, request: &Incoming2, caller: &Caller, segments: &[&str]) -> Resp {
    let base = shared.base_url.clone();
    let method = request.method.clone();
    match (method, segments) {
        (Method::GET, ["rest", "api", "2" | "latest", "serverInfo"]) => {
            let state = shared.lock();
            let numbers: Vec<u64> = state
                .config
                .version
                .split('.')
                .filter_map(|p| p.parse().ok())
                .collect();
            json_response(
                200,
                &json!({
                    "baseUrl": base,
                    "version": state.config.version,
                    "versionNumbers": numbers,
                    "deploymentType": "Server",
                    "buildNumber": 1,
                    "serverTime": payload::jira_now(),
                    "serverTitle": state.config.server_title,
                }),
            )
        }
        (Method::GET, ["rest", "api", "2" | "latest", "myself"]) => {
            let name = match require_user(caller) {
                Ok(name) => name,
                Err(resp) => return *resp,
            };
            let state = shared.lock();
            match find_user(&state, name) {
                Some(user) => json_response(200, &user_json(&base, user)),
                None => error_collection(404, &format!("The user named '{name}' does not exist")),
            }
        }
        (Method::GET, ["rest", "api", "2" | "latest", "status"]) => {
            if let Err(resp) = require_user(caller) {
                return *resp;
            }
            let state = shared.lock();
            let list: Vec<Value> = state
                .config
                .statuses
                .iter()
                .map(|s| status_json(&base, s))
                .collect();
            json_response(200, &Value::Array(list))
        }
        (Method::GET, ["rest", "api", "2" | "latest", "user"]) => {
            if let Err(resp) = require_user(caller) {
                return *resp;
            }
            let state = shared.lock();
            let found = if let Some(name) = request.query_param("username") {
                state
                    .config
                    .users
                    .iter()
                    .find(|u| u.name == name)
                    .map(|u| (u, name))
            } else if let Some(key) = request.query_param("key") {
                state
                    .config
                    .users
                    .iter()
                    .find(|u| u.key == key)
                    .map(|u| (u, key))
            } else {
                return error_collection(
                    400,
                    "Either the 'username' or the 'key' query parameter must be given.",
                );
            };
            if let Some((user, _)) = found {
                json_response(200, &user_json(&base, user))
            } else {
                let asked = request
                    .query_param("username")
                    .or_else(|| request.query_param("key"))
                    .unwrap_or_default();
                error_collection(404, &format!("The user named '{asked}' does not exist"))
            }
        }
        (method, ["rest", "webhooks", "1.0", "webhook", rest @ ..]) => {
            webhooks(shared, request, caller, method, rest, false)
        }
        (method, ["rest", "jira-webhook", "1.0", "webhooks", rest @ ..]) => {
            webhooks(shared, request, caller, method, rest, true)
        }
        (method, ["rest", "api", "2" | "latest", "issue", key, rest @ ..]) => {
            if let Err(resp) = require_user(caller) {
                return *resp;
            }
            issues(shared, request, caller, method, key, rest)
        }
        _ => error_collection(404, "null for uri"),
    }
}

fn webhooks(
    shared: &Shared,
    request: &Incoming2,
    caller: &Caller,
    method: Method,
    tail: &[&str],
    jira_webhook_api: bool,
) -> Resp {
    let base = shared.base_url.clone();
    let mut state = shared.lock();
    let new_api = major_version(&state.config.version) >= 10;
    if new_api != jira_webhook_api {
        return error_collection(404, "null for uri");
    }
    let user = match require_user(caller) {
        Ok(user) => user.to_owned(),
        Err(resp) => return *resp,
    };
    let is_admin = find_user(&state, &user).is_some_and(|u| u.admin);
    let render = |hook: &SimWebhook| {
        if jira_webhook_api {
            json!({
                "id": hook.id.parse::<u64>().unwrap_or(0), "name": hook.name, "url": hook.url,
                "events": hook.events, "active": true, "configuration": {"EXCLUDE_BODY": "false"},
                "scopeType": "global", "sslVerificationRequired": true,
            })
        } else {
            json!({
                "self": format!("{base}/rest/webhooks/1.0/webhook/{}", hook.id),
                "name": hook.name, "url": hook.url, "events": hook.events, "enabled": true,
                "excludeBody": false, "filters": {"issue-related-events-section": ""},
                "lastUpdatedUser": user,
            })
        }
    };
    match (method, tail) {
        (Method::POST, []) => {
            if let Some((status, body)) = state.webhook_create_failure.clone() {
                return response(status, "application/json;charset=UTF-8", body);
            }
            let Ok(spec) = serde_json::from_slice::<Value>(&request.body) else {
                return json_response(400, &json!({"messages": [{"key": "Invalid JSON"}]}));
            };
            let name = spec.get("name").and_then(Value::as_str).unwrap_or_default();
            if !is_admin {
                return json_response(
                    403,
                    &json!({"messages": [{"key": format!("You do not have permission to create WebHook '{name}'.")}]}),
                );
            }
            let url = spec.get("url").and_then(Value::as_str).unwrap_or_default();
            if name.is_empty() || url.is_empty() {
                return json_response(
                    400,
                    &json!({"messages": [{"key": "Name and URL are required."}]}),
                );
            }
            let events = spec
                .get("events")
                .and_then(Value::as_array)
                .map(|e| {
                    e.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let hook = SimWebhook {
                id: state.next_webhook_id.to_string(),
                name: name.to_owned(),
                url: url.to_owned(),
                events,
                jira_webhook_api,
            };
            state.next_webhook_id += 1;
            state.webhooks.push(hook.clone());
            json_response(201, &render(&hook))
        }
        (Method::GET, []) => {
            if !is_admin {
                return error_collection(403, "Administrator rights are required.");
            }
            json_response(
                200,
                &Value::Array(state.webhooks.iter().map(render).collect()),
            )
        }
        (Method::GET, [id]) => match state.webhooks.iter().find(|h| h.id == *id) {
            Some(hook) if is_admin => json_response(200, &render(hook)),
            Some(_) => error_collection(403, "Administrator rights are required."),
            None => error_collection(404, "Webhook not found"),
        },
        (Method::DELETE, [id]) => {
            if !is_admin {
                return error_collection(403, "Administrator rights are required.");
            }
            let before = state.webhooks.len();
            state.webhooks.retain(|h| h.id != *id);
            if state.webhooks.len() == before {
                error_collection(404, "Webhook not found")
            } else {
                empty(204)
            }
        }
        _ => error_collection(405, "Method not allowed"),
    }
}

fn issues(
    shared: &Shared,
    request: &Incoming2,
    caller: &Caller,
    method: Method,
    key: &str,
    tail: &[&str],
) -> Resp {
    let base = shared.base_url.clone();
    let actor = match caller {
        Caller::User(name) => name.clone(),
        Caller::Anonymous => String::new(),
    };
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let delivery = match (method, tail) {
        (Method::GET, []) => {
            let state = shared.lock();
            return match state.issues.get(key) {
                Some(issue) => json_response(200, &issue_json(&base, &state, issue)),
                None => error_collection(404, "Issue Does Not Exist"),
            };
        }
        (Method::PUT, ["assignee"]) => {
            let assignee = match body.get("name") {
                Some(Value::String(name)) => Some(name.as_str()),
                Some(Value::Null) | None => None,
                Some(_) => return error_collection(400, "assignee name must be a string or null"),
            };
            match payload::assign(shared, key, assignee, &actor) {
                Ok(delivery) => delivery,
                Err(message) if message == "Issue Does Not Exist" => {
                    return error_collection(404, &message);
                }
                Err(message) => {
                    return json_response(
                        400,
                        &json!({"errorMessages": [], "errors": {"assignee": message}}),
                    );
                }
            }
        }
        (Method::GET, ["transitions"]) => {
            let state = shared.lock();
            let list: Vec<Value> = state
                .config
                .statuses
                .iter()
                .map(|s| json!({"id": s.id, "name": s.name, "to": status_json(&base, s)}))
                .collect();
            return json_response(200, &json!({"expand": "transitions", "transitions": list}));
        }
        (Method::POST, ["transitions"]) => {
            let Some(id) = body
                .get("transition")
                .and_then(|t| t.get("id"))
                .and_then(Value::as_str)
            else {
                return error_collection(400, "Missing 'transition' identifier");
            };
            match payload::transition(shared, key, id, &actor) {
                Ok(delivery) => delivery,
                Err(message) if message == "Issue Does Not Exist" => {
                    return error_collection(404, &message);
                }
                Err(message) => return error_collection(400, &message),
            }
        }
        _ => return error_collection(404, "null for uri"),
    };
    // Like Jira, deliver asynchronously after answering.
    let targets = shared.lock().webhooks.clone();
    let http = shared.http.clone();
    tokio::spawn(async move {
        for hook in targets {
            let _ = http
                .post(&hook.url)
                .header("content-type", "application/json; charset=UTF-8")
                .body(delivery.to_string())
                .send()
                .await;
        }
    });
    empty(204)
}
