//! Model-based property test of ordering and idempotency.
//!
//! Invariant, in plain words: for a random world (users with verified or unverified,
//! possibly shared e-mails, active or not; projects in two installed organizations with random
//! settings and one organization that did not install the integration; groups; links to a few
//! issue keys of this and of another integration; explicit user mappings) and a random list of
//! assignee / status / key-change events written by the nodes of a Jira Data Center cluster,
//! delivering the events **in a random order with random duplicates** ends in exactly the same
//! state (every group's assignee, status, change sources, watermarks, and the links of every
//! key) as delivering each event **once, in the order they were made**.
//!
//! The events' ordering keys are made as a cluster makes them (`cluster_keys`): event times
//! that never go backwards (several events may share a millisecond), and changelog ids that
//! each node draws from its own bank of the shared sequence, so the ids are **not** in time
//! order across nodes. "The order they were made" is time, then changelog id within a
//! millisecond.
//!
//! Events may also move their issue to a fresh key (key change); later events name the new
//! key, and the links (compared for every key ever used) must end in the same place.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use assignee_sync::memory::{GroupSnapshot, InMemoryStore};
use assignee_sync::{
    GroupId, InboundEvent, IntegrationId, IssueKey, JiraStatus, JiraUser, OrderingKey,
    StatusCategory, SyncKind, SyncSettings, sync_inbound,
};
use proptest::prelude::*;

const JIRA: &str = "jira-1";
const OTHER_JIRA: &str = "jira-2";
const KEYS: [&str; 3] = ["APP-1", "APP-2", "APP-3"];
/// Projects 0 and 1 are in `o0`, 2 in `o1`, 3 in `o2` (which did not install the integration).
const PROJECTS: [(&str, &str); 4] = [("p0", "o0"), ("p1", "o0"), ("p2", "o1"), ("p3", "o2")];

/// Polls a future that never waits (the in-memory store answers immediately).
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("in-memory store futures never wait"),
    }
}

#[derive(Debug, Clone)]
struct World {
    /// Per user: active, e-mail index (0..3), verified.
    users: Vec<(bool, u8, bool)>,
    /// (project index, user index)
    members: Vec<(usize, usize)>,
    /// (sync_reverse_assignment, sync_status_reverse) of `o0` and `o1`.
    settings: [(bool, bool); 2],
    /// Per group: project index.
    groups: Vec<usize>,
    /// (group index, key index, through the other integration)
    links: Vec<(usize, usize, bool)>,
    /// (Jira username index, user index)
    mappings: Vec<(u8, usize)>,
}

#[derive(Debug, Clone)]
enum Assignee {
    Cleared,
    /// Jira username index, e-mail (index, upper-case), masked e-mail.
    Set(Option<u8>, Option<(u8, bool)>, bool),
}

#[derive(Debug, Clone)]
struct Event {
    /// When and with which changelog id the event was made (set by `scenario`).
    at: OrderingKey,
    /// Which issue (0..3); its key is `KEYS[issue]` until it moves.
    key: usize,
    /// The issue moves to a fresh key in this event (project move, key change).
    moved: bool,
    assignee: Option<Assignee>,
    /// (from category, to category) as 0 = new, 1 = indeterminate, 2 = done.
    status: Option<(u8, u8)>,
}

fn world() -> impl Strategy<Value = World> {
    let users = prop::collection::vec((any::<bool>(), 0u8..3, any::<bool>()), 1..6);
    let groups = prop::collection::vec(0usize..4, 1..7);
    (
        users,
        groups,
        any::<[(bool, bool); 2]>(),
        prop::collection::vec((0usize..4, 0usize..6), 0..14),
        prop::collection::vec((0usize..7, 0usize..3, prop::bool::weighted(0.2)), 0..14),
        prop::collection::vec((0u8..3, 0usize..6), 0..3),
    )
        .prop_map(|(users, groups, settings, members, links, mappings)| {
            let (nu, ng) = (users.len(), groups.len());
            World {
                members: members.into_iter().map(|(p, u)| (p, u % nu)).collect(),
                links: links.into_iter().map(|(g, k, o)| (g % ng, k, o)).collect(),
                mappings: mappings.into_iter().map(|(n, u)| (n, u % nu)).collect(),
                users,
                settings,
                groups,
            }
        })
}

fn event() -> impl Strategy<Value = Event> {
    let assignee = prop_oneof![
        Just(None),
        Just(Some(Assignee::Cleared)),
        (
            prop::option::of(0u8..4),
            prop::option::of((0u8..4, any::<bool>())),
            prop::bool::weighted(0.1)
        )
            .prop_map(|(n, e, m)| Some(Assignee::Set(n, e, m))),
    ];
    (
        0usize..3,
        prop::bool::weighted(0.15),
        assignee,
        prop::option::of((0u8..3, 0u8..3)),
    )
        .prop_map(|(key, moved, assignee, status)| Event {
            at: OrderingKey::timestamp(0),
            key,
            moved,
            assignee,
            status,
        })
}

fn seed(w: &World) -> InMemoryStore {
    let store = InMemoryStore::new();
    for (i, (assign, status)) in w.settings.iter().enumerate() {
        store.install(
            JIRA,
            format!("o{i}"),
            SyncSettings::new()
                .with_reverse_assignment(*assign)
                .with_status_reverse(*status),
        );
    }
    for (p, o) in PROJECTS {
        store.add_project(p, o);
    }
    for (i, (active, email, verified)) in w.users.iter().enumerate() {
        let u = format!("u{i}");
        store.add_user(u.as_str(), *active);
        store
            .add_email(u.as_str(), format!("user{email}@example.org"), *verified)
            .unwrap();
    }
    for (p, u) in &w.members {
        store.add_member(PROJECTS[*p].0, format!("u{u}")).unwrap();
    }
    for (i, p) in w.groups.iter().enumerate() {
        store.add_group(format!("g{i}"), PROJECTS[*p].0).unwrap();
    }
    for (g, k, other) in &w.links {
        let integration = if *other { OTHER_JIRA } else { JIRA };
        store.link(format!("g{g}"), integration, KEYS[*k]).unwrap();
    }
    for (n, u) in &w.mappings {
        store
            .map_user(JIRA, format!("jira-user-{n}"), format!("u{u}"))
            .unwrap();
    }
    store
}

fn status(cat: u8) -> JiraStatus {
    let (id, category) = match cat {
        0 => ("10000", StatusCategory::New),
        1 => ("3", StatusCategory::Indeterminate),
        _ => ("10002", StatusCategory::Done),
    };
    JiraStatus::new(id).with_category(category)
}

/// The ordering keys of events made one after the other on a Jira Data Center cluster:
/// `writers[i]` is (the node that made event `i`, milliseconds since the previous event, 0
/// included). Each node draws changelog ids from its own bank of `bank` consecutive ids, taken
/// from the shared sequence when its bank is used up (the entity engine's sequence bank), so a
/// node can write a smaller id after another node wrote a larger one.
fn cluster_keys(writers: &[(usize, u8)], bank: u64) -> Vec<OrderingKey> {
    let mut sequence = 10_000u64;
    let mut banks = [(0u64, 0u64); 3];
    let mut now = 1_700_000_000_000i64;
    writers
        .iter()
        .map(|&(node, dt)| {
            now += i64::from(dt);
            let (next, end) = &mut banks[node % 3];
            if *next == *end {
                (*next, *end) = (sequence, sequence + bank);
                sequence += bank;
            }
            let id = *next;
            *next += 1;
            OrderingKey::new(Some(id), now)
        })
        .collect()
}

/// The generator makes what a cluster makes: a newer event with a smaller changelog id.
#[test]
fn cluster_keys_interleave_id_banks() {
    let keys = cluster_keys(&[(0, 1), (1, 1), (0, 1), (1, 0)], 10);
    let ids: Vec<_> = keys.iter().map(|k| k.changelog_id()).collect();
    assert_eq!(
        ids,
        [Some(10_000), Some(10_010), Some(10_001), Some(10_011)]
    );
    // Event 2 is newer than event 1 although its id is smaller, and the key order says so.
    assert!(keys[2] > keys[1]);
    // Events 2 and 3 share a millisecond: the changelog id breaks the tie.
    assert_eq!(keys[2].timestamp_ms(), keys[3].timestamp_ms());
    assert!(keys[3] > keys[2]);
}

/// The events in the order they were made (their ordering keys): the `i`-th names its
/// issue's key at that point; a moving event moves the issue to the fresh key `MOVED-<i>`.
/// Also returns every key used.
fn inbound_all(events: &[Event]) -> (Vec<InboundEvent>, Vec<String>) {
    let mut current: Vec<String> = KEYS.iter().map(|k| (*k).to_owned()).collect();
    let mut all_keys = current.clone();
    let evs = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let key = if e.moved {
                let to = format!("MOVED-{i}");
                all_keys.push(to.clone());
                let from = std::mem::replace(&mut current[e.key], to);
                (Some(from), current[e.key].clone())
            } else {
                (None, current[e.key].clone())
            };
            inbound(e, key)
        })
        .collect();
    (evs, all_keys)
}

fn inbound(e: &Event, (moved_from, key): (Option<String>, String)) -> InboundEvent {
    let mut ev = InboundEvent::new(JIRA, key.as_str(), e.at).with_project_key("APP");
    if let Some(from) = moved_from {
        ev = ev.with_key_change(from, key);
    }
    match &e.assignee {
        None => {}
        Some(Assignee::Cleared) => ev = ev.unassigned(),
        Some(Assignee::Set(name, email, masked)) => {
            let mut u = JiraUser::new();
            if let Some(n) = name {
                u = u.with_name(format!("jira-user-{n}"));
            }
            if let Some((e, upper)) = email {
                let mut addr = format!("user{e}@example.org");
                if *upper {
                    addr = addr.to_uppercase();
                }
                if *masked {
                    addr = addr.replace('@', " at ");
                }
                u = u.with_email(addr);
            }
            ev = ev.assigned_to(u);
        }
    }
    if let Some((from, to)) = e.status {
        ev = ev.with_status(Some(status(from)), Some(status(to)));
    }
    ev
}

type Watermarks = Vec<(Option<OrderingKey>, Option<OrderingKey>)>;

type Links = Vec<Vec<GroupId>>;

fn state(store: &InMemoryStore, keys: &[String]) -> (Vec<GroupSnapshot>, Watermarks, Links) {
    let i = IntegrationId::new(JIRA);
    let links = keys
        .iter()
        .map(|k| store.links_of(&i, &IssueKey::new(k.as_str())))
        .collect();
    let groups = store.groups();
    let marks = groups
        .iter()
        .map(|g: &GroupSnapshot| {
            let id: &GroupId = &g.id;
            (
                store.watermark(id, &i, SyncKind::Assignee),
                store.watermark(id, &i, SyncKind::Status),
            )
        })
        .collect();
    (groups, marks, links)
}

fn scenario() -> impl Strategy<Value = (World, Vec<Event>, Vec<usize>)> {
    (
        world(),
        prop::collection::vec((event(), 0usize..3, 0u8..3), 1..12),
        1u64..5,
    )
        .prop_map(|(w, made, bank)| {
            let writers: Vec<(usize, u8)> = made.iter().map(|(_, n, dt)| (*n, *dt)).collect();
            let mut events: Vec<Event> = made
                .into_iter()
                .zip(cluster_keys(&writers, bank))
                .map(|((e, _, _), at)| Event { at, ..e })
                .collect();
            // The order they were made: time, then changelog id within a millisecond.
            events.sort_by_key(|e| (e.at.timestamp_ms(), e.at.changelog_id()));
            (w, events)
        })
        .prop_flat_map(|(w, events)| {
            let n = events.len();
            prop::collection::vec(0..n, 0..n).prop_flat_map(move |dups| {
                let mut delivery: Vec<usize> = (0..n).collect();
                delivery.extend(dups);
                (
                    Just(w.clone()),
                    Just(events.clone()),
                    Just(delivery).prop_shuffle(),
                )
            })
        })
}

/// The delivery guarantee for moves: an event is handled correctly when at least one copy of it
/// is delivered after (a copy of) every earlier move of its issue. An event that names a key
/// whose move has not arrived yet finds no links (documented limitation), so this appends one
/// more copy (a redelivery) of each event that has no such copy.
fn redeliver_after_moves(events: &[Event], mut delivery: Vec<usize>) -> Vec<usize> {
    let first_copy = |d: &[usize], i: usize| d.iter().position(|&x| x == i);
    for (i, e) in events.iter().enumerate() {
        let last_move = (0..i)
            .filter(|&m| events[m].moved && events[m].key == e.key)
            .filter_map(|m| first_copy(&delivery, m))
            .max();
        if let Some(after) = last_move
            && !delivery.iter().skip(after + 1).any(|&x| x == i)
        {
            delivery.push(i);
        }
    }
    delivery
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any delivery order with any duplicates ends in the same state as in-order-once delivery
    /// (for moves: given the guarantee of `redeliver_after_moves`).
    #[test]
    fn shuffled_duplicated_delivery_equals_in_order_delivery((w, events, delivery) in scenario()) {
        let (evs, keys) = inbound_all(&events);
        let in_order = seed(&w);
        for ev in &evs {
            block_on(sync_inbound(&in_order, ev)).unwrap();
        }
        let shuffled = seed(&w);
        for &i in &redeliver_after_moves(&events, delivery) {
            block_on(sync_inbound(&shuffled, &evs[i])).unwrap();
        }
        prop_assert_eq!(state(&in_order, &keys), state(&shuffled, &keys));
    }

    /// Delivering from three threads at once (reads of one event interleaving with commits of
    /// others) still ends in the same state as in-order-once delivery: the watermark guard in
    /// `commit` makes the interleaving irrelevant.
    #[test]
    fn concurrent_delivery_equals_in_order_delivery((w, mut events, delivery) in scenario()) {
        // No moves here: "after the move" has no meaning across threads.
        for e in &mut events {
            e.moved = false;
        }
        let (evs, keys) = inbound_all(&events);
        let in_order = seed(&w);
        for ev in &evs {
            block_on(sync_inbound(&in_order, ev)).unwrap();
        }
        let concurrent = seed(&w);
        std::thread::scope(|scope| {
            for t in 0..3 {
                let (store, evs, delivery) = (&concurrent, &evs, &delivery);
                scope.spawn(move || {
                    for &i in delivery.iter().skip(t).step_by(3) {
                        block_on(sync_inbound(store, &evs[i])).unwrap();
                    }
                });
            }
        });
        prop_assert_eq!(state(&in_order, &keys), state(&concurrent, &keys));
    }

    /// Delivering the same event a second time right away never changes anything.
    #[test]
    fn immediate_redelivery_changes_nothing((w, events, _d) in scenario()) {
        let (evs, keys) = inbound_all(&events);
        let store = seed(&w);
        for ev in &evs {
            block_on(sync_inbound(&store, ev)).unwrap();
            let before = state(&store, &keys);
            let again = block_on(sync_inbound(&store, ev)).unwrap();
            prop_assert!(!again.changed_anything());
            prop_assert_eq!(before, state(&store, &keys));
        }
    }
}
