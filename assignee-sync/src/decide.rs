//! Pure decision functions, free of any store. [`crate::sync_inbound`] is built from them.

use crate::event::{JiraStatus, OrderingKey, StatusCategory, StatusChange};
use crate::outcome::SkipReason;
use crate::types::{StatusMapping, UserId};

/// What a status change asks for (Sentry's `ResolveSyncAction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatusAction {
    /// Resolve the linked groups.
    Resolve,
    /// Unresolve the linked groups.
    Unresolve,
    /// Nothing to do.
    Noop,
}

/// Decides the status action of a change (Sentry §1.6, plus the per-project mapping).
///
/// * If `mapping` has an entry for `project_key`, a side counts as "resolved" when its status
///   id is in that entry's set.
/// * Otherwise a side counts as "resolved" when its category is `done` (unknown category or
///   missing side: not resolved).
///
/// Then: into resolved from not resolved → [`StatusAction::Resolve`]; out of resolved into not
/// resolved → [`StatusAction::Unresolve`]; anything else → [`StatusAction::Noop`].
pub fn status_action(
    change: &StatusChange,
    project_key: Option<&str>,
    mapping: &StatusMapping,
) -> StatusAction {
    let resolved_ids = project_key.and_then(|k| mapping.resolved_statuses(k));
    let is_resolved = |side: Option<&JiraStatus>| -> bool {
        let Some(status) = side else {
            return false;
        };
        match resolved_ids {
            Some(ids) => ids.contains(&status.id),
            None => status
                .category
                .as_ref()
                .is_some_and(StatusCategory::is_done),
        }
    };
    let from = is_resolved(change.from.as_ref());
    let to = is_resolved(change.to.as_ref());
    match (from, to) {
        (false, true) => StatusAction::Resolve,
        (true, false) => StatusAction::Unresolve,
        _ => StatusAction::Noop,
    }
}

/// The ordering guard: `Ok(())` when an event with `key` may still be applied to a group whose
/// watermark for that kind is `watermark`; otherwise the reason it must be skipped.
///
/// The same change as the watermark's ([`OrderingKey::same_change`]: equal, or the same changelog
/// id) is a duplicate; an older key (event time, then changelog id) is stale.
pub fn guard(watermark: Option<OrderingKey>, key: OrderingKey) -> Result<(), SkipReason> {
    match watermark {
        Some(w) if w.same_change(key) => Err(SkipReason::Duplicate),
        Some(w) if w > key => Err(SkipReason::Stale),
        _ => Ok(()),
    }
}

/// The candidate users for a Jira user, in the order they are tried.
///
/// 1. The explicitly mapped user, if any (mapping of the user key, else username, else
///    account id).
/// 2. Then the users with a matching verified e-mail, by ascending user id.
///
/// Duplicates are removed (a mapped user that also matches by e-mail stays first).
/// For each group the first candidate that is a member of the group's project is chosen
/// ([`choose_member`]); so the choice is deterministic whatever order the store returns.
pub fn candidate_order(mapped: Option<UserId>, mut by_email: Vec<UserId>) -> Vec<UserId> {
    by_email.sort();
    by_email.dedup();
    let mut out = Vec::with_capacity(by_email.len() + 1);
    if let Some(m) = mapped {
        by_email.retain(|u| *u != m);
        out.push(m);
    }
    out.extend(by_email);
    out
}

/// The first candidate for which `is_member` holds.
pub fn choose_member(
    candidates: &[UserId],
    mut is_member: impl FnMut(&UserId) -> bool,
) -> Option<&UserId> {
    candidates.iter().find(|u| is_member(u))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::unnecessary_wraps)] // builds the `Option` sides of a StatusChange
    fn st(id: &str, cat: StatusCategory) -> Option<JiraStatus> {
        Some(JiraStatus::new(id).with_category(cat))
    }

    #[test]
    fn category_rules() {
        let m = StatusMapping::new();
        let done = || st("10101", StatusCategory::Done);
        let prog = || st("3", StatusCategory::Indeterminate);
        let todo = || st("1", StatusCategory::New);
        assert_eq!(
            status_action(&StatusChange::new(prog(), done()), None, &m),
            StatusAction::Resolve
        );
        assert_eq!(
            status_action(&StatusChange::new(done(), prog()), None, &m),
            StatusAction::Unresolve
        );
        assert_eq!(
            status_action(&StatusChange::new(todo(), prog()), None, &m),
            StatusAction::Noop
        );
        assert_eq!(
            status_action(&StatusChange::new(done(), done()), None, &m),
            StatusAction::Noop
        );
        // Unknown from-side counts as not done.
        assert_eq!(
            status_action(&StatusChange::new(None, done()), None, &m),
            StatusAction::Resolve
        );
        assert_eq!(
            status_action(
                &StatusChange::new(Some(JiraStatus::new("7")), done()),
                None,
                &m
            ),
            StatusAction::Resolve
        );
    }

    #[test]
    fn mapping_decides_instead_of_category() {
        // In project APP only "10200" (say "Fixed") resolves; "Won't Do" (done category) does not.
        let m = StatusMapping::new().with_project("APP", ["10200"]);
        let wont_do = || st("10300", StatusCategory::Done);
        let fixed = || st("10200", StatusCategory::Done);
        let prog = || st("3", StatusCategory::Indeterminate);
        assert_eq!(
            status_action(&StatusChange::new(prog(), wont_do()), Some("APP"), &m),
            StatusAction::Noop
        );
        assert_eq!(
            status_action(&StatusChange::new(prog(), fixed()), Some("APP"), &m),
            StatusAction::Resolve
        );
        assert_eq!(
            status_action(&StatusChange::new(fixed(), wont_do()), Some("APP"), &m),
            StatusAction::Unresolve
        );
        // Other projects keep the category rule.
        assert_eq!(
            status_action(&StatusChange::new(prog(), wont_do()), Some("OPS"), &m),
            StatusAction::Resolve
        );
    }

    #[test]
    fn guard_rules() {
        let k = OrderingKey::changelog(10);
        assert_eq!(guard(None, k), Ok(()));
        assert_eq!(guard(Some(OrderingKey::changelog(9)), k), Ok(()));
        assert_eq!(guard(Some(k), k), Err(SkipReason::Duplicate));
        assert_eq!(
            guard(Some(OrderingKey::changelog(11)), k),
            Err(SkipReason::Stale)
        );
        // Event time decides first, the changelog id only breaks ties of one millisecond ...
        assert_eq!(
            guard(
                Some(OrderingKey::new(Some(10), 5)),
                OrderingKey::new(Some(9), 99)
            ),
            Ok(())
        );
        assert_eq!(
            guard(
                Some(OrderingKey::new(Some(9), 99)),
                OrderingKey::new(Some(10), 5)
            ),
            Err(SkipReason::Stale)
        );
        // ... and the same changelog id is the same change, whatever the timestamp.
        assert_eq!(
            guard(
                Some(OrderingKey::new(Some(10), 5)),
                OrderingKey::new(Some(10), 99)
            ),
            Err(SkipReason::Duplicate)
        );
        assert_eq!(
            guard(
                Some(OrderingKey::new(Some(10), 5)),
                OrderingKey::new(Some(10), 5)
            ),
            Err(SkipReason::Duplicate)
        );
        // Within one millisecond, a key without a changelog id orders first.
        assert_eq!(
            guard(Some(OrderingKey::changelog(1)), OrderingKey::timestamp(0)),
            Err(SkipReason::Stale)
        );
        assert_eq!(
            guard(
                Some(OrderingKey::changelog(1)),
                OrderingKey::timestamp(i64::MAX)
            ),
            Ok(())
        );
    }

    /// Jira Data Center: each node takes its own bank of changelog ids from the shared
    /// sequence, so ids are not in time order across nodes. Node B holds the bank 10 100..,
    /// node A the bank 10 000..; B writes 10 150 at t=1000, then A writes 10 050 at t=2000.
    #[test]
    fn interleaved_id_banks_order_by_event_time() {
        let b_older = OrderingKey::new(Some(10_150), 1_000);
        let a_newer = OrderingKey::new(Some(10_050), 2_000);
        // The newer change with the smaller id applies ...
        assert_eq!(guard(Some(b_older), a_newer), Ok(()));
        // ... and the older one with the larger id, delivered late, does not.
        assert_eq!(guard(Some(a_newer), b_older), Err(SkipReason::Stale));
        // Two changes of the same millisecond: the changelog id breaks the tie.
        let same_ms_low = OrderingKey::new(Some(10_050), 3_000);
        let same_ms_high = OrderingKey::new(Some(10_150), 3_000);
        assert_eq!(guard(Some(same_ms_low), same_ms_high), Ok(()));
        assert_eq!(
            guard(Some(same_ms_high), same_ms_low),
            Err(SkipReason::Stale)
        );
    }

    #[test]
    fn candidates_mapped_first_then_lowest_id() {
        let u = UserId::new;
        let c = candidate_order(Some(u("m")), vec![u("c"), u("a"), u("m"), u("a")]);
        assert_eq!(c, vec![u("m"), u("a"), u("c")]);
        let c = candidate_order(None, vec![u("b"), u("a")]);
        assert_eq!(choose_member(&c, |x| x.as_str() != "a"), Some(&u("b")));
        assert_eq!(choose_member(&c, |_| false), None);
    }
}
