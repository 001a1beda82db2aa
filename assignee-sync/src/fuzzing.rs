//! Fuzz target bodies (not a stable API).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::memory::InMemoryStore;
use crate::{
    InboundEvent, JiraStatus, JiraUser, OrderingKey, StatusCategory, SyncSettings, sync_inbound,
};

const JIRA: &str = "jira-1";
const KEYS: [&str; 3] = ["APP-1", "APP-2", "APP-3"];
const PROJECTS: [(&str, &str); 3] = [("p0", "o0"), ("p1", "o1"), ("p2", "o2")];

/// Polls a future once; the in-memory store never waits, so `None` cannot happen in practice.
fn poll_once<F: Future>(f: F) -> Option<F::Output> {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bytes<'_> {
    fn next(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
}

fn status(b: u8) -> Option<JiraStatus> {
    match b % 4 {
        0 => None,
        1 => Some(JiraStatus::new("10000").with_category(StatusCategory::New)),
        2 => Some(JiraStatus::new("3").with_category(StatusCategory::Indeterminate)),
        _ => Some(JiraStatus::new("10002").with_category(StatusCategory::Done)),
    }
}

/// Builds a small world and a sequence of events from `data`, applies every event, and checks:
/// the call succeeds; the outcome lists each (group, kind) at most once, sorted; delivering the
/// same event again right away changes nothing.
pub fn sync_events(data: &[u8]) {
    let mut b = Bytes { data, pos: 0 };
    let store = InMemoryStore::new();
    let flags = b.next();
    for (i, org) in ["o0", "o1"].into_iter().enumerate() {
        store.install(
            JIRA,
            org,
            SyncSettings::new()
                .with_reverse_assignment((flags >> (2 * i)) & 1 == 1)
                .with_status_reverse((flags >> (2 * i + 1)) & 1 == 1),
        );
    }
    for (p, o) in PROJECTS {
        store.add_project(p, o);
    }
    for u in 0..4u8 {
        let bits = b.next();
        let id = format!("u{u}");
        store.add_user(id.as_str(), bits & 1 == 1);
        let email = format!("user{}@example.org", (bits >> 1) % 3);
        // Seeding known ids cannot fail.
        let _ = store.add_email(id.as_str(), email, bits & 8 == 8);
        for (p, _) in PROJECTS {
            if b.next() & 1 == 1 {
                let _ = store.add_member(p, id.as_str());
            }
        }
        if bits & 16 == 16 {
            let _ = store.map_user(JIRA, format!("jira-{u}"), id.as_str());
        }
    }
    for g in 0..5u8 {
        let bits = b.next();
        let id = format!("g{g}");
        let project = PROJECTS
            .get(usize::from(bits % 3))
            .map_or("p0", |(p, _)| *p);
        let _ = store.add_group(id.as_str(), project);
        for (k, key) in KEYS.iter().enumerate() {
            if (bits >> (2 + k)) & 1 == 1 {
                let integration = if bits & 0x80 == 0 { JIRA } else { "jira-2" };
                let _ = store.link(id.as_str(), integration, *key);
            }
        }
    }

    let mut changelog = 0u64;
    let mut moved = 0u32;
    while !b.done() && changelog < 64 {
        changelog += 1;
        let op = b.next();
        let key = KEYS.get(usize::from(op % 3)).copied().unwrap_or("APP-1");
        let ordering = if op & 0x80 == 0 {
            OrderingKey::changelog(changelog)
        } else {
            OrderingKey::timestamp(i64::from(b.next()))
        };
        let mut ev = InboundEvent::new(JIRA, key, ordering).with_project_key("APP");
        match (op >> 2) % 4 {
            0 => {}
            1 => ev = ev.unassigned(),
            _ => {
                let who = b.next();
                let mut user = JiraUser::new();
                if who & 1 == 1 {
                    user = user.with_name(format!("jira-{}", (who >> 1) % 5));
                }
                if who & 16 == 16 {
                    let mut email = format!("user{}@example.org", (who >> 5) % 4);
                    if who & 0x80 == 0x80 {
                        email = email.to_uppercase();
                    }
                    user = user.with_email(email);
                }
                ev = ev.assigned_to(user);
            }
        }
        if op & 0x10 == 0x10 {
            let s = b.next();
            ev = ev.with_status(status(s), status(s >> 2));
        }
        if op & 0x60 == 0x60 {
            moved += 1;
            let to = format!("MOVED-{moved}");
            ev = ev.with_key_change(key, to.as_str());
            ev.issue_key = to.into();
        }
        let Some(first) = poll_once(sync_inbound(&store, &ev)) else {
            return;
        };
        let first = first.unwrap_or_else(|e| panic!("valid event rejected: {e}"));
        assert!(
            first
                .groups
                .windows(2)
                .all(|w| (&w[0].group, w[0].kind) < (&w[1].group, w[1].kind)),
            "outcome not sorted or has duplicates"
        );
        let before = store.groups();
        let Some(again) = poll_once(sync_inbound(&store, &ev)) else {
            return;
        };
        let again = again.unwrap_or_else(|e| panic!("redelivery rejected: {e}"));
        assert!(!again.changed_anything(), "redelivery changed something");
        assert_eq!(before, store.groups(), "redelivery changed the store");
    }
}
