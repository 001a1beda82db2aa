//! `POST /api/v1/import/links`: links many groups to Jira issues in one request.
//!
//! The body is NDJSON (`application/x-ndjson`): one JSON object per line,
//! `{"group": "<group id>", "project": "<project id>", "integration": "<integration id>",
//! "issueKey": "<Jira issue key>"}`; blank lines are skipped. `project` is optional: with it
//! the group is created in that project or moved there, keeping status and assignee (as
//! `PUT /groups/{id}` does), without it the group must already exist (or be given a project by
//! an earlier item). Each item is then linked as `PUT /groups/{id}/external-issues/...` does.
//!
//! The body is read as a stream (it is not held whole in memory) and may be larger than the
//! server's `--body-limit`: up to [`IMPORT_MAX_BYTES`] bytes and [`IMPORT_MAX_ITEMS`] items.
//! Every item is checked before anything is written: ids are 1 to 200 characters without
//! control characters, the integration and the project exist, a group without a project exists.
//! If any item is wrong the answer is 400 and nothing is written. Otherwise the items are
//! written in order (see [`Tracker::import_links`](crate::storage::Tracker::import_links) for what a failure midway leaves) and
//! flushed to disk before the answer
//! `200 {"items", "groups": {"created", "moved", "unchanged"}, "links": {"created",
//! "existing"}}`. Importing the same items again changes nothing (all `unchanged`/`existing`).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::BodyExt as _;
use serde::Deserialize;
use serde_json::json;

use super::{check_id, ok};
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::response::Resp;
use crate::storage::records::ImportLink;
use crate::storage::{Integrations as _, Storage, StorageError, Tracker as _};

/// Most items in one import request (split larger imports).
pub const IMPORT_MAX_ITEMS: usize = 100_000;

/// Largest import request body in bytes (32 MiB), independent of `--body-limit`.
pub const IMPORT_MAX_BYTES: usize = 32 * 1024 * 1024;

/// At most this many wrong items are named in a 400 answer (the message counts all of them).
const MAX_REPORTED: usize = 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ItemBody {
    group: String,
    #[serde(default)]
    project: Option<String>,
    integration: String,
    issue_key: String,
}

/// A wrong item: its index (0-based, blank lines not counted), line (1-based), field and what
/// is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ItemError {
    index: usize,
    line: usize,
    field: &'static str,
    message: String,
}

/// The items read so far and the errors found.
#[derive(Default)]
struct Parsed {
    items: Vec<ImportLink>,
    /// Line of each item in `items`.
    item_lines: Vec<usize>,
    errors: Vec<ItemError>,
    bad: usize,
    count: usize,
    lines: usize,
}

impl Parsed {
    fn error(&mut self, index: usize, line: usize, field: &'static str, message: String) {
        self.bad += 1;
        if self.errors.len() < MAX_REPORTED {
            self.errors.push(ItemError {
                index,
                line,
                field,
                message,
            });
        }
        // Nothing will be written: stop keeping items.
        self.items = Vec::new();
        self.item_lines = Vec::new();
    }

    /// Parses one line (without its `\n`).
    fn line(&mut self, raw: &[u8]) -> Result<(), ApiError> {
        self.lines += 1;
        let line = self.lines;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let index = self.count;
        self.count += 1;
        if self.count > IMPORT_MAX_ITEMS {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "An import holds at most {IMPORT_MAX_ITEMS} items; split it into several \
                     requests. Nothing was written."
                ),
            ));
        }
        if index == 0 && raw.trim_ascii_start().starts_with(b"[") {
            self.error(
                index,
                line,
                "item",
                "The body must be NDJSON (one JSON object per line), not a JSON array.".into(),
            );
            return Ok(());
        }
        let body: ItemBody = match serde_json::from_slice(raw) {
            Ok(b) => b,
            Err(e) => {
                self.error(index, line, "item", format!("not a valid item: {e}"));
                return Ok(());
            }
        };
        let mut ok = true;
        let mut check = |field: &'static str, v: &str, p: &mut Self| {
            if let Err(e) = check_id(field, v) {
                p.error(index, line, field, e.message);
                ok = false;
            }
        };
        check("group", &body.group, self);
        if let Some(p) = &body.project {
            check("project", p, self);
        }
        check("integration", &body.integration, self);
        check("issueKey", &body.issue_key, self);
        if ok && self.bad == 0 {
            self.items.push(ImportLink {
                group: body.group,
                project: body.project,
                integration: body.integration,
                issue_key: body.issue_key,
            });
            self.item_lines.push(line);
        }
        Ok(())
    }
}

/// Reads the NDJSON body frame by frame, parsing each complete line.
async fn read_items<B>(body: B, timeout: Duration) -> Result<Parsed, ApiError>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "An import body is at most {IMPORT_MAX_BYTES} bytes; split it into several \
                 requests. Nothing was written."
            ),
        )
    };
    if body.size_hint().lower() > IMPORT_MAX_BYTES as u64 {
        return Err(too_large());
    }
    let read = async move {
        let mut body = body;
        let mut parsed = Parsed::default();
        let mut pending: Vec<u8> = Vec::new();
        let mut total = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| {
                ApiError::bad_request("The request body could not be read completely.")
            })?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            total += data.len();
            if total > IMPORT_MAX_BYTES {
                return Err(too_large());
            }
            let mut rest: &[u8] = &data;
            while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
                let (line, after) = rest.split_at(nl);
                if pending.is_empty() {
                    parsed.line(line)?;
                } else {
                    pending.extend_from_slice(line);
                    let whole = std::mem::take(&mut pending);
                    parsed.line(&whole)?;
                }
                rest = after.get(1..).unwrap_or_default();
            }
            pending.extend_from_slice(rest);
        }
        if !pending.is_empty() {
            parsed.line(&pending)?;
        }
        Ok(parsed)
    };
    tokio::time::timeout(timeout, read).await.map_err(|_| {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "The request body did not arrive within {} s.",
                timeout.as_secs()
            ),
        )
    })?
}

/// Checks what the items refer to: integrations and projects exist; a group without a project
/// exists or an earlier item gives it one.
async fn check_refs(
    storage: &Storage,
    items: &[ImportLink],
    lines: &[usize],
) -> Result<(Vec<ItemError>, usize), StorageError> {
    let mut errors = Vec::new();
    let mut bad = 0usize;
    let mut integrations: HashMap<&str, bool> = HashMap::new();
    let mut projects: HashMap<&str, bool> = HashMap::new();
    let mut given_project: HashSet<&str> = HashSet::new();
    for (index, it) in items.iter().enumerate() {
        let mut err = |field, message: String| {
            bad += 1;
            if errors.len() >= MAX_REPORTED {
                return;
            }
            errors.push(ItemError {
                index,
                line: lines.get(index).copied().unwrap_or_default(),
                field,
                message,
            });
        };
        let known = if let Some(k) = integrations.get(it.integration.as_str()) {
            *k
        } else {
            let k = storage.integration(&it.integration).await?.is_some();
            integrations.insert(&it.integration, k);
            k
        };
        if !known {
            err(
                "integration",
                format!("No integration `{}`.", it.integration),
            );
        }
        if let Some(p) = &it.project {
            let known = if let Some(k) = projects.get(p.as_str()) {
                *k
            } else {
                let k = storage.project(p).await?.is_some();
                projects.insert(p, k);
                k
            };
            if known {
                given_project.insert(&it.group);
            } else {
                err(
                    "project",
                    format!("No project `{p}`; create it first with PUT /api/v1/projects/{{id}}."),
                );
            }
        } else if !given_project.contains(it.group.as_str())
            && !storage.has_group(&it.group).await?
        {
            err(
                "group",
                format!(
                    "No group `{}`; give the item a `project` to create it.",
                    it.group
                ),
            );
        }
    }
    Ok((errors, bad))
}

/// The 400 answer for wrong items.
fn invalid(errors: &[ItemError], bad: usize) -> ApiError {
    let first = errors.first().map_or_else(String::new, |e| {
        let line = if e.line > 0 {
            format!(" (line {})", e.line)
        } else {
            String::new()
        };
        format!(" First: item {}{line}: {}", e.index, e.message)
    });
    let mut e = ApiError::bad_request(format!(
        "{bad} item(s) are invalid; nothing was written.{first}"
    ));
    for item in errors.iter().take(MAX_REPORTED) {
        e.fields
            .entry(format!("items[{}].{}", item.index, item.field))
            .or_insert_with(|| item.message.clone());
    }
    e
}

enum ImportFailure {
    Check(StorageError),
    Write(StorageError),
}

/// `POST /import/links` with an NDJSON body (see the module docs).
pub async fn links<B>(state: &AppState, body: B) -> Result<Resp, ApiError>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let started = std::time::Instant::now();
    let parsed = read_items(body, state.body_timeout).await?;
    let read_ms = started.elapsed().as_millis();
    if parsed.bad > 0 {
        return Err(invalid(&parsed.errors, parsed.bad));
    }
    let storage = state.storage.clone();
    let items = parsed.items;
    let lines = parsed.item_lines;
    // Off the runtime's threads: the embedded backend's reads and writes block (up to 10^5
    // items). A blocking-pool thread may drive the storage's futures itself.
    let runtime = tokio::runtime::Handle::current();
    let result = tokio::task::spawn_blocking(move || {
        runtime.block_on(async move {
            let t = std::time::Instant::now();
            let (errors, bad) = check_refs(&storage, &items, &lines)
                .await
                .map_err(ImportFailure::Check)?;
            if bad > 0 {
                return Ok(Err((errors, bad)));
            }
            let check_ms = t.elapsed().as_millis();
            let t = std::time::Instant::now();
            let counts = storage
                .import_links(&items)
                .await
                .map_err(ImportFailure::Write)?;
            tracing::info!(
                items = items.len(),
                read_ms,
                check_ms,
                write_ms = t.elapsed().as_millis(),
                links_created = counts.links_created,
                "links imported (not yet flushed)"
            );
            Ok(Ok((items.len(), counts)))
        })
    })
    .await
    .map_err(|e| ApiError::internal("the import task failed", &e))?
    .map_err(|e| match e {
        ImportFailure::Check(e) => ApiError::from(e),
        ImportFailure::Write(e) => ApiError::internal(
            "storage error during the import: the items before the failure may be written, \
             send the same import again",
            &e,
        ),
    })?;
    let (n, c) = match result {
        Ok(done) => done,
        Err((errors, bad)) => return Err(invalid(&errors, bad)),
    };
    ok(&json!({
        "items": n,
        "groups": {"created": c.groups_created, "moved": c.groups_moved, "unchanged": c.groups_unchanged},
        "links": {"created": c.links_created, "existing": c.links_existing},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    fn parse(body: &'static [u8]) -> Parsed {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(read_items(
            Full::new(Bytes::from_static(body)),
            Duration::from_secs(5),
        ))
        .unwrap_or_else(|e| panic!("{e:?}"))
    }

    /// A body that arrives in the given pieces.
    struct Pieces(std::collections::VecDeque<Bytes>);

    impl hyper::body::Body for Pieces {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
            std::task::Poll::Ready(self.0.pop_front().map(|b| Ok(hyper::body::Frame::data(b))))
        }
    }

    #[test]
    fn lines_split_across_frames_and_blank_lines() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let body = Pieces(
            [
                &b"{\"group\":\"g1\",\"proj"[..],
                b"ect\":\"p\",\"integration\":\"1\",\"issueKey\":\"A-1\"}\r\n\n",
                b"{\"group\":\"g2\",\"integration\":\"1\",\"issueKey\":\"A-2\"}",
            ]
            .into_iter()
            .map(Bytes::from_static)
            .collect(),
        );
        let parsed = rt
            .block_on(read_items(body, Duration::from_secs(5)))
            .expect("reads");
        assert_eq!(parsed.bad, 0);
        assert_eq!(parsed.lines, 3);
        assert_eq!(
            parsed.items,
            vec![
                ImportLink {
                    group: "g1".into(),
                    project: Some("p".into()),
                    integration: "1".into(),
                    issue_key: "A-1".into()
                },
                ImportLink {
                    group: "g2".into(),
                    project: None,
                    integration: "1".into(),
                    issue_key: "A-2".into()
                },
            ]
        );
    }

    #[test]
    fn wrong_items_are_named_by_index_and_line() {
        let p = parse(
            b"{\"group\":\"g1\",\"integration\":\"1\",\"issueKey\":\"A-1\"}\n\
              \n\
              {\"group\":\"\",\"integration\":\"1\",\"issueKey\":\"A-1\"}\n\
              {\"group\":\"g\",\"integration\":\"1\",\"issue_key\":\"A-1\"}\n",
        );
        assert_eq!(p.bad, 2);
        assert!(p.items.is_empty());
        assert_eq!((p.errors[0].index, p.errors[0].line), (1, 3));
        assert_eq!(p.errors[0].field, "group");
        assert_eq!((p.errors[1].index, p.errors[1].line), (2, 4));
        assert!(
            p.errors[1].message.contains("issue_key"),
            "{:?}",
            p.errors[1]
        );
        let e = invalid(&p.errors, p.bad);
        assert!(e.fields.contains_key("items[1].group"), "{e:?}");
        assert!(
            e.message
                .starts_with("2 item(s) are invalid; nothing was written.")
        );
    }

    #[test]
    fn a_json_array_is_refused_with_a_hint() {
        let p = parse(b"[{\"group\":\"g1\",\"integration\":\"1\",\"issueKey\":\"A-1\"}]");
        assert_eq!(p.bad, 1);
        assert!(p.errors[0].message.contains("NDJSON"));
    }
}
