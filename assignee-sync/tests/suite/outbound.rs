//! Outbound decisions (`assignee_sync::outbound`): known answers ported from Sentry's outbound
//! tests (reference §6, `test_integration.py`, `test_groupassignee.py`, and §5.5's loop
//! prevention), then properties.

use assignee_sync::outbound::{
    AssignableUser, AssigneeFailure, AssigneeRequest, AssigneeTarget, NoTransitionReason,
    OutboundKind, OutboundSettings, OutboundSettingsError, QueuedWork, StatusTargets, Transition,
    TransitionDecision, UserSearch, WorkKey, choose_assignee, choose_transition, should_sync,
    superseded_by, survivors, targets,
};
use assignee_sync::{ChangeSource, GroupStatus, IntegrationId, UserId};
use proptest::prelude::*;

fn jira(id: &str) -> IntegrationId {
    IntegrationId::new(id)
}

fn assign(name: &str) -> AssigneeTarget {
    AssigneeTarget::Assign { name: name.into() }
}

/// `transition_response.json` of Sentry's Jira stubs, as (id, name, to.id).
fn sentry_transitions() -> Vec<Transition> {
    vec![
        Transition::new("11", "To Do").with_to_status("10100"),
        Transition::new("21", "In Progress").with_to_status("3"),
        Transition::new("31", "Done").with_to_status("10101"),
        Transition::new("61", "Kicked"),
    ]
}

// ---- Known answers ----

/// `test_outbound_issue_sync`: project 10100 maps resolved → 10101, unresolved → 3; the issue
/// is at 10100 ("To Do"); unresolve takes transition 21, resolve takes 31.
#[test]
fn sentry_test_outbound_issue_sync() {
    let settings = OutboundSettings::new()
        .with_status_forward("10100", "10101", "3")
        .unwrap();
    let t = sentry_transitions();
    assert_eq!(
        choose_transition(&settings, "10100", "10100", GroupStatus::Unresolved, &t),
        Ok(TransitionDecision::Transition { id: "21".into() })
    );
    assert_eq!(
        choose_transition(&settings, "10100", "10100", GroupStatus::Resolved, &t),
        Ok(TransitionDecision::Transition { id: "31".into() })
    );
}

/// Sentry's `sync_status_outbound` steps 2, 3 and 5: unmapped project → nothing, already at
/// the target → nothing, no transition to the target → a failure listing what Jira offered
/// (Sentry only logged `jira.status-sync-fail`).
#[test]
fn transition_nothing_and_failure_cases() {
    let settings = OutboundSettings::new()
        .with_status_forward("10100", "10101", "3")
        .unwrap();
    let t = sentry_transitions();
    assert_eq!(
        choose_transition(&settings, "99999", "3", GroupStatus::Resolved, &t),
        Ok(TransitionDecision::Nothing(
            NoTransitionReason::ProjectNotMapped
        ))
    );
    assert_eq!(
        choose_transition(&settings, "10100", "10101", GroupStatus::Resolved, &t),
        Ok(TransitionDecision::Nothing(
            NoTransitionReason::AlreadyAtTarget
        ))
    );
    let only_todo = [
        Transition::new("11", "To Do").with_to_status("10100"),
        Transition::new("61", "Kicked"),
    ];
    let err =
        choose_transition(&settings, "10100", "3", GroupStatus::Resolved, &only_todo).unwrap_err();
    assert_eq!(err.target, "10101");
    assert_eq!(err.available, only_todo.to_vec());
    let msg = err.to_string();
    assert!(msg.contains("status 10101"), "{msg}");
    assert!(msg.contains("11 \"To Do\" → status 10100"), "{msg}");
    assert!(msg.contains("61 \"Kicked\" → unknown status"), "{msg}");
    // No transitions at all says so.
    let err = choose_transition(&settings, "10100", "3", GroupStatus::Resolved, &[]).unwrap_err();
    assert!(err.to_string().contains("available: none"), "{err}");
}

/// `test_sync_assignee_outbound_case_insensitive`: the verified e-mail bob@example.com matches
/// `emailAddress` "Bob@example.com"; the PUT body is `{"name": "Alive Tofu"}`.
#[test]
fn sentry_test_sync_assignee_outbound_case_insensitive() {
    let request = AssigneeRequest::assign(
        None,
        vec![UserSearch::new(
            "bob@example.com",
            vec![AssignableUser::new("Alive Tofu").with_email("Bob@example.com")],
        )],
    );
    assert_eq!(choose_assignee(&request), Ok(assign("Alive Tofu")));
}

/// `test_sync_assignee_outbound_no_emails_for_multiple_users`: two results without e-mail →
/// failure ("Failed to assign user"), here with the reason.
#[test]
fn sentry_test_sync_assignee_outbound_no_emails_for_multiple_users() {
    let request = AssigneeRequest::assign(
        None,
        vec![UserSearch::new(
            "bob@example.com",
            vec![
                AssignableUser::new("Beef"),
                AssignableUser::new("Alice Tofu"),
            ],
        )],
    );
    let err = choose_assignee(&request).unwrap_err();
    let AssigneeFailure::NoMatch { tried } = &err else {
        panic!("expected NoMatch, got {err:?}");
    };
    assert_eq!(tried.len(), 1);
    let msg = err.to_string();
    assert!(
        msg.contains("e-mail \"bob@example.com\": 2 result(s)"),
        "{msg}"
    );
    assert!(msg.contains("Jira hides e-mails"), "{msg}");
}

/// `test_sync_assignee_outbound_no_email`: a single result without e-mail from an **e-mail**
/// search. 2024: no assignment; 2025: assigned "Beef" (a wrong person could be assigned);
/// newest: no match. We follow the newest code: failure. The same single result for a
/// **mapped username** is accepted (the issue's rule for hidden e-mails).
#[test]
fn sentry_test_sync_assignee_outbound_no_email() {
    let beef = || vec![AssignableUser::new("Beef")];
    let by_email = AssigneeRequest::assign(None, vec![UserSearch::new("bob@example.com", beef())]);
    assert!(matches!(
        choose_assignee(&by_email),
        Err(AssigneeFailure::NoMatch { .. })
    ));
    let by_mapping = AssigneeRequest::assign(Some(UserSearch::new("dead.beef", beef())), vec![]);
    assert_eq!(choose_assignee(&by_mapping), Ok(assign("Beef")));
}

/// `test_sync_assignee_outbound_user_email_empty`: a user whose only e-mail is "" (and no
/// mapping) → nothing to search (Sentry: AssertionError, 0 calls).
#[test]
fn sentry_test_sync_assignee_outbound_user_email_empty() {
    let request = AssigneeRequest::assign(None, vec![UserSearch::new("", vec![])]);
    assert_eq!(
        choose_assignee(&request),
        Err(AssigneeFailure::NothingToSearch)
    );
    let request = AssigneeRequest::assign(None, vec![]);
    assert_eq!(
        choose_assignee(&request),
        Err(AssigneeFailure::NothingToSearch)
    );
}

/// `test_assignee_sync_outbound_unassign`: unassigning sends `{"name": null}`.
#[test]
fn sentry_test_assignee_sync_outbound_unassign() {
    assert_eq!(
        choose_assignee(&AssigneeRequest::Unassign),
        Ok(AssigneeTarget::Unassign)
    );
}

/// PR #90026 (newest): the `ExternalActor` mapping first, matched on `name` ignoring case,
/// before any e-mail; and the first e-mail that matches wins (Sentry's loop kept going and let
/// a later e-mail overwrite it, reference §8.1 item 10).
#[test]
fn mapping_first_then_first_matching_email() {
    let request = AssigneeRequest::assign(
        Some(UserSearch::new(
            "JMacQueen",
            vec![
                AssignableUser::new("jmacqueen2").with_email("other@example.com"),
                AssignableUser::new("jmacqueen").with_email("jess@example.com"),
            ],
        )),
        vec![UserSearch::new(
            "bob@example.com",
            vec![AssignableUser::new("bob").with_email("bob@example.com")],
        )],
    );
    assert_eq!(choose_assignee(&request), Ok(assign("jmacqueen")));

    let request = AssigneeRequest::assign(
        None,
        vec![
            UserSearch::new(
                "first@example.com",
                vec![AssignableUser::new("one").with_email("FIRST@example.com")],
            ),
            UserSearch::new(
                "second@example.com",
                vec![AssignableUser::new("two").with_email("second@example.com")],
            ),
        ],
    );
    assert_eq!(choose_assignee(&request), Ok(assign("one")));
    // A prefix match of the fuzzy search is not a match.
    let request = AssigneeRequest::assign(
        None,
        vec![UserSearch::new(
            "bob@example.com",
            vec![AssignableUser::new("bobby").with_email("bob@example.com.au")],
        )],
    );
    assert!(choose_assignee(&request).is_err());
}

/// `test_update_organization_config_sync_keys`: an empty `on_resolve` for project 10100 is an
/// error (naming the project); valid input turns status sync on with one project; an update
/// replaces the mapping; `{}` turns it off.
#[test]
fn sentry_test_update_organization_config_sync_keys() {
    let err = OutboundSettings::new()
        .with_comments(true)
        .with_forward_assignment(true)
        .with_status_forward("10100", "", "3")
        .unwrap_err();
    assert_eq!(
        err,
        OutboundSettingsError::EmptyStatus {
            project_id: "10100".into(),
            field: "onResolve"
        }
    );
    let msg = err.to_string();
    assert!(msg.contains("10100") && msg.contains("onResolve"), "{msg}");
    assert!(
        msg.contains("resolve and unresolve status are required"),
        "{msg}"
    );

    let mut s = OutboundSettings::new()
        .with_comments(true)
        .with_forward_assignment(true)
        .with_status_forward("10100", "4", "3")
        .unwrap();
    assert!(s.enabled(OutboundKind::Status));
    assert!(s.enabled(OutboundKind::Comment));
    assert!(s.enabled(OutboundKind::Assignee));
    assert_eq!(s.status_forward().count(), 1);
    assert_eq!(
        s.status_targets("10100").map(StatusTargets::on_resolve),
        Some("4")
    );

    s.replace_status_forward([("10100", "5", "3")]).unwrap();
    assert_eq!(
        s.status_targets("10100").map(StatusTargets::on_resolve),
        Some("5")
    );
    assert_eq!(s.status_forward().count(), 1);

    // A failed update changes nothing.
    let before = s.clone();
    assert_eq!(
        s.replace_status_forward([("10200", "5", "6"), ("10300", "7", " ")]),
        Err(OutboundSettingsError::EmptyStatus {
            project_id: "10300".into(),
            field: "onUnresolve"
        })
    );
    assert_eq!(s, before);

    s.replace_status_forward(Vec::<(String, String, String)>::new())
        .unwrap();
    assert!(!s.enabled(OutboundKind::Status));
    assert_eq!(s.status_forward().count(), 0);
}

/// Everything is off by default.
#[test]
fn outbound_settings_default_off() {
    let s = OutboundSettings::default();
    let user = ChangeSource::User(UserId::new("u"));
    for kind in [
        OutboundKind::Assignee,
        OutboundKind::Status,
        OutboundKind::Comment,
    ] {
        assert!(!s.enabled(kind));
        assert!(!should_sync(&s, &jira("jira-1"), kind, &user));
    }
}

/// Reference §5.5 (issue #72999, PR #77754): an assignment that came from jira-1 is not sent
/// back to jira-1, but is sent to jira-2 linked to the same group, whose settings say so;
/// jira-3 has assignee sync off.
#[test]
fn sentry_loop_prevention_sync_source() {
    let on = OutboundSettings::new().with_forward_assignment(true);
    let off = OutboundSettings::new();
    let (j1, j2, j3) = (jira("jira-1"), jira("jira-2"), jira("jira-3"));
    let linked = [(&j1, &on), (&j2, &on), (&j3, &off)];
    let from_j1 = ChangeSource::Integration(j1.clone());
    assert_eq!(
        targets(linked, OutboundKind::Assignee, &from_j1),
        vec![j2.clone()]
    );
    let by_user = ChangeSource::User(UserId::new("u"));
    assert_eq!(
        targets(linked, OutboundKind::Assignee, &by_user),
        vec![j1, j2]
    );
}

/// A newer assignee change replaces the older unsent one for the same integration and issue;
/// other issues, other integrations, other kinds and comments stay.
#[test]
fn supersession_known_answer() {
    let k = WorkKey::new;
    let queued = vec![
        QueuedWork::new(1, k("jira-1", "APP-1", OutboundKind::Assignee)),
        QueuedWork::new(2, k("jira-1", "APP-1", OutboundKind::Status)),
        QueuedWork::new(3, k("jira-1", "APP-2", OutboundKind::Assignee)),
        QueuedWork::new(4, k("jira-2", "APP-1", OutboundKind::Assignee)),
        QueuedWork::new(5, k("jira-1", "APP-1", OutboundKind::Comment)),
        QueuedWork::new(6, k("jira-1", "APP-1", OutboundKind::Assignee)),
    ];
    assert_eq!(
        superseded_by(&queued, &k("jira-1", "APP-1", OutboundKind::Assignee)),
        vec![1, 6]
    );
    assert!(superseded_by(&queued, &k("jira-1", "APP-1", OutboundKind::Comment)).is_empty());
    let seqs: Vec<u64> = survivors(&queued).iter().map(|q| q.seq).collect();
    assert_eq!(seqs, vec![2, 3, 4, 5, 6]);
}

// ---- Properties ----

fn integration_ids() -> impl Strategy<Value = IntegrationId> {
    prop::sample::select(vec!["jira-1", "jira-2", "jira-3"]).prop_map(IntegrationId::new)
}

fn kinds() -> impl Strategy<Value = OutboundKind> {
    prop::sample::select(vec![
        OutboundKind::Assignee,
        OutboundKind::Status,
        OutboundKind::Comment,
    ])
}

fn settings() -> impl Strategy<Value = OutboundSettings> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(a, c, s)| {
        let out = OutboundSettings::new()
            .with_forward_assignment(a)
            .with_comments(c);
        if s {
            out.with_status_forward("10100", "10101", "3")
                .unwrap_or_default()
        } else {
            out
        }
    })
}

fn sources() -> impl Strategy<Value = ChangeSource> {
    prop_oneof![
        integration_ids().prop_map(ChangeSource::Integration),
        "[a-c]".prop_map(|u| ChangeSource::User(UserId::new(u))),
    ]
}

fn work() -> impl Strategy<Value = WorkKey> {
    (
        prop::sample::select(vec!["jira-1", "jira-2"]),
        prop::sample::select(vec!["APP-1", "APP-2"]),
        kinds(),
    )
        .prop_map(|(i, k, kind)| WorkKey::new(i, k, kind))
}

fn users() -> impl Strategy<Value = Vec<AssignableUser>> {
    prop::collection::vec(
        (
            "[a-c]{1,2}",
            prop::option::of(prop::sample::select(vec![
                "a@x.io", "A@X.io", "b@x.io", "", "c@x.io",
            ])),
        )
            .prop_map(|(n, e)| match e {
                Some(e) => AssignableUser::new(n).with_email(e),
                None => AssignableUser::new(n),
            }),
        0..4,
    )
}

fn searches() -> impl Strategy<Value = Vec<UserSearch>> {
    prop::collection::vec(
        (prop::sample::select(vec!["a@x.io", "b@X.IO", ""]), users())
            .prop_map(|(q, r)| UserSearch::new(q, r)),
        0..3,
    )
}

fn transitions() -> impl Strategy<Value = Vec<Transition>> {
    prop::collection::vec(
        (
            "[1-9]{1,2}",
            prop::option::of(prop::sample::select(vec!["3", "10100", "10101"])),
        )
            .prop_map(|(id, to)| match to {
                Some(to) => Transition::new(id, "t").with_to_status(to),
                None => Transition::new(id, "t"),
            }),
        0..5,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A change that came from integration X is never sent back to X; every other linked
    /// integration gets it exactly when its settings have that kind on.
    #[test]
    fn never_sent_back_to_its_source(
        linked in prop::collection::vec((integration_ids(), settings()), 0..5),
        kind in kinds(),
        source in sources(),
    ) {
        let refs: Vec<(&IntegrationId, &OutboundSettings)> = linked.iter().map(|(i, s)| (i, s)).collect();
        let sent = targets(refs.iter().copied(), kind, &source);
        for id in &sent {
            prop_assert!(!source.is_echo_of(id));
        }
        for (id, s) in &linked {
            let expected = s.enabled(kind) && !source.is_echo_of(id);
            prop_assert_eq!(should_sync(s, id, kind, &source), expected);
        }
        // Each integration at most once; the first settings given for it decide.
        let mut first: Vec<&IntegrationId> = Vec::new();
        for (id, s) in &linked {
            if should_sync(s, id, kind, &source) && !first.contains(&id) {
                first.push(id);
            }
        }
        prop_assert_eq!(sent.iter().collect::<Vec<_>>(), first);
    }

    /// Supersession never reorders: the survivors are a subsequence of the queue, namely the
    /// newest item per integration, issue and kind (assignee, status) plus every comment; and
    /// dropping `superseded_by` on each enqueue ends at the same survivors.
    #[test]
    fn supersession_keeps_newest_in_order(keys in prop::collection::vec(work(), 0..12)) {
        let queue: Vec<QueuedWork> = keys.iter().cloned().enumerate()
            .map(|(i, k)| QueuedWork::new(i as u64, k)).collect();
        let kept: Vec<u64> = survivors(&queue).iter().map(|q| q.seq).collect();
        // A subsequence, in order.
        prop_assert!(kept.windows(2).all(|w| w[0] < w[1]));
        for q in &queue {
            let newer_same = queue.iter().any(|o| o.key == q.key && o.seq > q.seq);
            let should_survive = q.key.kind == OutboundKind::Comment || !newer_same;
            prop_assert_eq!(kept.contains(&q.seq), should_survive);
        }
        // Incremental: enqueue one by one, dropping what each new item supersedes.
        let mut live: Vec<QueuedWork> = Vec::new();
        for q in &queue {
            let drop = superseded_by(&live, &q.key);
            live.retain(|l| !drop.contains(&l.seq));
            live.push(q.clone());
        }
        prop_assert_eq!(live.iter().map(|q| q.seq).collect::<Vec<_>>(), kept);
    }

    /// The chosen assignee is always a user Jira offered; an e-mail match (ignoring case) is
    /// always found when one exists and no mapping is given; unassigning always unassigns.
    #[test]
    fn assignee_is_offered_and_found(mapped in prop::option::of(("[a-c]{0,2}", users())), emails in searches()) {
        let mapped = mapped.map(|(q, r)| UserSearch::new(q, r));
        let request = AssigneeRequest::assign(mapped.clone(), emails.clone());
        let offered: Vec<&AssignableUser> = mapped.iter().chain(emails.iter()).flat_map(|s| &s.results).collect();
        match choose_assignee(&request) {
            Ok(AssigneeTarget::Assign { name }) => {
                prop_assert!(offered.iter().any(|u| u.name == name));
            }
            Ok(other) => prop_assert!(false, "assign gave {:?}", other),
            Err(AssigneeFailure::NothingToSearch) => {
                prop_assert!(mapped.iter().chain(emails.iter()).all(|s| s.query.trim().is_empty()));
            }
            Err(e) => {
                let any_email_match = emails.iter().any(|s| !s.query.is_empty() && s.results.iter().any(|u| {
                    u.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(&s.query))
                }));
                prop_assert!(!any_email_match, "missed an e-mail match: {}", e);
                prop_assert!(!e.to_string().is_empty());
            }
        }
        prop_assert_eq!(choose_assignee(&AssigneeRequest::Unassign), Ok(AssigneeTarget::Unassign));
    }

    /// A chosen transition always leads to the mapped target; none is chosen when the issue is
    /// already there or its project is unmapped; a failure happens only when no offered
    /// transition leads to the target, and lists every offered transition.
    #[test]
    fn transition_leads_to_target(
        project in prop::sample::select(vec!["10100", "10200"]),
        current in prop::sample::select(vec!["3", "10100", "10101"]),
        resolved in any::<bool>(),
        offered in transitions(),
    ) {
        let settings = OutboundSettings::new().with_status_forward("10100", "10101", "3").unwrap();
        let status = if resolved { GroupStatus::Resolved } else { GroupStatus::Unresolved };
        let target = if resolved { "10101" } else { "3" };
        match choose_transition(&settings, project, current, status, &offered) {
            Ok(TransitionDecision::Transition { id }) => {
                prop_assert_eq!(project, "10100");
                prop_assert_ne!(current, target);
                let first = offered.iter().find(|t| t.to_status.as_deref() == Some(target));
                prop_assert_eq!(first.map(|t| t.id.clone()), Some(id));
            }
            Ok(TransitionDecision::Nothing(NoTransitionReason::ProjectNotMapped)) => prop_assert_eq!(project, "10200"),
            Ok(TransitionDecision::Nothing(NoTransitionReason::AlreadyAtTarget)) => prop_assert_eq!(current, target),
            Ok(other) => prop_assert!(false, "unexpected {:?}", other),
            Err(e) => {
                prop_assert!(offered.iter().all(|t| t.to_status.as_deref() != Some(target)));
                prop_assert_eq!(&e.available, &offered);
            }
        }
    }

    /// Settings validation: a status mapping is refused exactly when a status id is blank, and
    /// the error names the project.
    #[test]
    fn blank_status_refused_naming_project(
        project in "[0-9]{1,6}",
        on_resolve in prop::sample::select(vec!["", " ", "4"]),
        on_unresolve in prop::sample::select(vec!["", "3"]),
    ) {
        let res = OutboundSettings::new().with_status_forward(project.clone(), on_resolve, on_unresolve);
        let blank = on_resolve.trim().is_empty() || on_unresolve.trim().is_empty();
        match res {
            Ok(s) => {
                prop_assert!(!blank);
                prop_assert!(s.enabled(OutboundKind::Status));
            }
            Err(e) => {
                prop_assert!(blank);
                prop_assert!(e.to_string().contains(&project));
            }
        }
    }
}
