//! Delivery bodies: the 11 KB perf fixture with the issue key, the assignee and the changelog id
//! patched per delivery.
//!
//! The fixture is turned once into a template (markers such as `@@KEY@@` in place of the
//! patched strings) and split into literal parts, so building a body is a few `memcpy`s and
//! the load generator spends its CPU on sending, not on JSON serialisation.

use bytes::Bytes;
use serde_json::Value;

/// The perf fixture (`jira:issue_updated`, one assignee change, 11,014 bytes).
pub const FIXTURE: &str = include_str!("../fixtures/issue_updated_large.json");

/// Number of tracker users the relevant deliveries assign (all members of the load project).
pub const USERS: usize = 8;

/// What is patched into a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// `issue.key`.
    Key,
    /// Assignee `name`.
    Name,
    /// Assignee `key` (also the changelog item's `to`).
    UserKey,
    /// Assignee `emailAddress`.
    Email,
    /// `changelog.id`.
    ChangelogId,
}

/// A body template: literal parts with slots between them.
#[derive(Debug, Clone)]
pub struct Template {
    literals: Vec<Vec<u8>>,
    slots: Vec<Slot>,
    size_hint: usize,
}

/// The values patched into one body.
#[derive(Debug, Clone)]
pub struct Patch<'a> {
    /// Issue key.
    pub key: &'a str,
    /// Index of the assignee (`0..USERS`).
    pub user: usize,
    /// Changelog id (orders deliveries of one issue).
    pub changelog_id: u64,
}

/// Username of load user `u`.
pub fn user_name(u: usize) -> String {
    format!("loaduser{u}")
}

/// Jira user key of load user `u`.
pub fn user_key(u: usize) -> String {
    format!("JIRAUSER7{u:04}")
}

/// E-mail address of load user `u` (verified on the tracker side).
pub fn user_email(u: usize) -> String {
    format!("loaduser{u}@example.org")
}

/// Tracker user id of load user `u`.
pub fn tracker_user(u: usize) -> String {
    format!("lu{u}")
}

fn set(v: &mut Value, path: &[&str], to: &str) -> Result<(), String> {
    let mut cur = v;
    for p in path {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(*p)
                .ok_or_else(|| format!("fixture has no `{}`", path.join(".")))?,
            Value::Array(a) => {
                let i: usize = p.parse().map_err(|_| format!("bad index {p}"))?;
                a.get_mut(i)
                    .ok_or_else(|| format!("fixture has no `{}`", path.join(".")))?
            }
            _ => return Err(format!("fixture has no `{}`", path.join("."))),
        };
    }
    *cur = Value::String(to.to_owned());
    Ok(())
}

impl Template {
    /// The relevant-delivery template (with changelog), or without the changelog.
    pub fn from_fixture(with_changelog: bool) -> Result<Self, String> {
        let mut v: Value =
            serde_json::from_str(FIXTURE).map_err(|e| format!("fixture is not JSON: {e}"))?;
        set(&mut v, &["issue", "key"], "@@KEY@@")?;
        set(&mut v, &["issue", "fields", "assignee", "name"], "@@NAME@@")?;
        set(&mut v, &["issue", "fields", "assignee", "key"], "@@UKEY@@")?;
        set(
            &mut v,
            &["issue", "fields", "assignee", "emailAddress"],
            "@@EMAIL@@",
        )?;
        set(&mut v, &["changelog", "id"], "@@CLID@@")?;
        set(&mut v, &["changelog", "items", "0", "to"], "@@UKEY@@")?;
        if !with_changelog && let Value::Object(m) = &mut v {
            m.remove("changelog");
        }
        let text = serde_json::to_string(&v).map_err(|e| e.to_string())?;
        Self::parse(&text)
    }

    fn parse(text: &str) -> Result<Self, String> {
        let mut literals = Vec::new();
        let mut slots = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("@@") {
            let after = rest.get(start + 2..).unwrap_or_default();
            let end = after
                .find("@@")
                .ok_or_else(|| "unterminated marker".to_owned())?;
            let name = after.get(..end).unwrap_or_default();
            let slot = match name {
                "KEY" => Slot::Key,
                "NAME" => Slot::Name,
                "UKEY" => Slot::UserKey,
                "EMAIL" => Slot::Email,
                "CLID" => Slot::ChangelogId,
                other => return Err(format!("unknown marker {other}")),
            };
            literals.push(rest.get(..start).unwrap_or_default().as_bytes().to_vec());
            slots.push(slot);
            rest = after.get(end + 2..).unwrap_or_default();
        }
        literals.push(rest.as_bytes().to_vec());
        let size_hint = literals.iter().map(Vec::len).sum::<usize>() + 32 * slots.len();
        Ok(Self {
            literals,
            slots,
            size_hint,
        })
    }

    /// One body.
    pub fn render(&self, patch: &Patch<'_>) -> Bytes {
        let mut out = Vec::with_capacity(self.size_hint);
        let name = user_name(patch.user);
        let ukey = user_key(patch.user);
        let email = user_email(patch.user);
        let clid = patch.changelog_id.to_string();
        for (i, lit) in self.literals.iter().enumerate() {
            out.extend_from_slice(lit);
            if let Some(slot) = self.slots.get(i) {
                let v = match slot {
                    Slot::Key => patch.key,
                    Slot::Name => &name,
                    Slot::UserKey => &ukey,
                    Slot::Email => &email,
                    Slot::ChangelogId => &clid,
                };
                out.extend_from_slice(v.as_bytes());
            }
        }
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_body_is_the_fixture_with_patched_fields() {
        let t = Template::from_fixture(true).expect("template");
        let body = t.render(&Patch {
            key: "LOAD-7",
            user: 3,
            changelog_id: 42,
        });
        let v: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["issue"]["key"], "LOAD-7");
        assert_eq!(
            v["issue"]["fields"]["assignee"]["emailAddress"],
            "loaduser3@example.org"
        );
        assert_eq!(v["issue"]["fields"]["assignee"]["key"], "JIRAUSER70003");
        assert_eq!(v["changelog"]["id"], "42");
        assert_eq!(v["changelog"]["items"][0]["field"], "assignee");
        assert_eq!(v["changelog"]["items"][0]["to"], "JIRAUSER70003");
        // Still about the size of the fixture.
        assert!(body.len() > 10_000 && body.len() < 11_500, "{}", body.len());
    }

    #[test]
    fn no_changelog_variant() {
        let t = Template::from_fixture(false).expect("template");
        let body = t.render(&Patch {
            key: "LOAD-1",
            user: 0,
            changelog_id: 1,
        });
        let v: Value = serde_json::from_slice(&body).expect("json");
        assert!(v.get("changelog").is_none());
        assert_eq!(v["issue"]["key"], "LOAD-1");
    }
}
