//! One assignee event against an in-memory store holding 10^3 and 10^6 links.
//!
//! The event's issue key is linked to 10 groups; every other link (and its group) is
//! unrelated. The cost of one event must not grow with the number of unrelated links.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use assignee_sync::memory::InMemoryStore;
use assignee_sync::{InboundEvent, JiraUser, OrderingKey, SyncSettings, sync_inbound};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

const JIRA: &str = "jira-1";
const LINKED: usize = 10;

/// Polls a future that never waits (the in-memory store answers immediately).
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn store_with_links(total_links: usize) -> InMemoryStore {
    let store = InMemoryStore::new();
    store.install(JIRA, "acme", SyncSettings::all_inbound());
    store.add_project("backend", "acme");
    for (u, e) in [("u-bob", "bob@example.org"), ("u-amy", "amy@example.org")] {
        store.add_user(u, true);
        store.add_email(u, e, true).expect("user exists");
        store.add_member("backend", u).expect("project exists");
    }
    for i in 0..LINKED {
        let g = format!("target-{i}");
        store
            .add_group(g.as_str(), "backend")
            .expect("project exists");
        store.link(g, JIRA, "APP-1").expect("group exists");
    }
    // Unrelated: one group and one link each, on other keys.
    for i in 0..total_links.saturating_sub(LINKED) {
        let g = format!("other-{i}");
        store
            .add_group(g.as_str(), "backend")
            .expect("project exists");
        store
            .link(g, JIRA, format!("OPS-{}", i + 2))
            .expect("group exists");
    }
    assert_eq!(store.link_count(), total_links);
    store
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("assignee_event");
    group.sample_size(30);
    group.measurement_time(std::time::Duration::from_secs(4));
    for total in [1_000usize, 1_000_000] {
        let store = store_with_links(total);
        let users = [
            JiraUser::new().with_email("bob@example.org"),
            JiraUser::new().with_email("Amy@Example.org"),
        ];
        let mut changelog = 0u64;
        group.bench_with_input(BenchmarkId::from_parameter(total), &total, |b, _| {
            b.iter(|| {
                // A new, newer event each time, alternating the assignee so every group changes.
                changelog += 1;
                let user = users[usize::from(changelog.is_multiple_of(2))].clone();
                let ev = InboundEvent::new(JIRA, "APP-1", OrderingKey::changelog(changelog))
                    .assigned_to(user);
                let out = block_on(sync_inbound(&store, &ev)).expect("in-memory store");
                assert!(out.changed_anything());
                black_box(out)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
