//! The entry point: reads through the [`Store`], decides with [`crate::decide`], commits once.

use std::collections::{BTreeMap, HashMap};

use crate::decide::{StatusAction, candidate_order, guard, status_action};
use crate::event::{AssigneeChange, InboundEvent, JiraUser, KeyChange, OrderingKey};
use crate::outcome::{GroupOutcome, GroupResult, SkipReason, SyncError, SyncOutcome};
use crate::store::{Change, LinkedGroup, Mutation, MutationResult, Plan, Store};
use crate::types::{
    GroupId, IntegrationId, IssueKey, OrganizationId, ProjectId, SyncKind, SyncSettings, UserId,
};

/// The assignee decision before per-group membership is checked.
enum AssigneeIntent {
    Deassign,
    /// Candidates in the order they are tried (never empty).
    Candidates(Vec<UserId>),
    /// No candidate at all, and why.
    NoUser(SkipReason),
}

/// One per-group entry before the commit: either decided now, or waiting for a mutation result.
enum Pending {
    Done(GroupResult),
    Mutation(usize),
}

/// Applies one inbound event: assigns / de-assigns / resolves / unresolves the linked groups
/// of every organization that enabled the sync kind, and carries links to a new key.
///
/// Steps: validate the event; read installations and linked groups (of the issue key and
/// every key it was moved to since, see [`Store::moved_to`]; of the old key when the event
/// carries a key change); decide per group and kind; commit all
/// guarded changes in **one** [`Store::commit`] call; report per group.
///
/// Idempotent and order-safe: every change is guarded by the group's watermark for its kind
/// (see [`Store`]); a repeated event reports `Skipped { Duplicate }`, an older one
/// `Skipped { Stale }`. An event whose decision for a group is "leave alone" (no matching user,
/// not a member, no resolution change, sync disabled) does not move that group's watermark, so
/// it cannot make an older deciding event stale.
///
/// Reads happen only when the event carries something to do; an event with no assignee,
/// status or key change returns an empty outcome without touching the store.
pub async fn sync_inbound<S: Store>(
    store: &S,
    event: &InboundEvent,
) -> Result<SyncOutcome, SyncError<S::Error>> {
    validate(event)?;
    let mut outcome = SyncOutcome {
        integration: event.integration.clone(),
        issue_key: event.issue_key.clone(),
        ordering: event.ordering,
        groups: Vec::new(),
        relinked: Vec::new(),
    };
    let relink = event.key_change.clone().filter(|k| k.from != k.to);
    if event.assignee.is_none() && event.status.is_none() && relink.is_none() {
        return Ok(outcome);
    }

    // Keys whose links this event concerns: the issue key and every key it moved to since
    // (an event naming an old key follows the issue); for a key change also the old key. The
    // links of a key change go to the newest key the new key has moved to by a *newer* event
    // (a move delivered out of order), not back along an older move.
    let mut keys = follow_moves(store, &event.integration, &event.issue_key, None).await?;
    let relink = match relink {
        Some(k) => {
            let chain =
                follow_moves(store, &event.integration, &k.to, Some(event.ordering)).await?;
            let target = chain.last().cloned().unwrap_or_else(|| k.to.clone());
            for key in std::iter::once(&k.from).chain(&chain) {
                if !keys.contains(key) {
                    keys.push(key.clone());
                }
            }
            // A move back to where the issue is already (out-of-order cycle) moves nothing.
            (target != k.from).then_some(KeyChange {
                from: k.from,
                to: target,
            })
        }
        None => None,
    };
    let mut groups: BTreeMap<GroupId, LinkedGroup> = BTreeMap::new();
    for key in &keys {
        let linked = store
            .linked_groups(&event.integration, key)
            .await
            .map_err(SyncError::Store)?;
        if relink.as_ref().is_some_and(|k| &k.from == key) {
            outcome
                .relinked
                .extend(linked.iter().map(|g| g.group.clone()));
        }
        for g in linked {
            groups.entry(g.group.clone()).or_insert(g);
        }
    }
    outcome.relinked.sort();
    outcome.relinked.dedup();

    let mut plan = Plan::new(event.integration.clone(), event.ordering);
    plan.relink.clone_from(&relink);
    if groups.is_empty() || (event.assignee.is_none() && event.status.is_none()) {
        return commit_and_report(store, plan, Vec::new(), outcome).await;
    }

    let installs: HashMap<OrganizationId, SyncSettings> = store
        .installations(&event.integration)
        .await
        .map_err(SyncError::Store)?
        .into_iter()
        .map(|i| (i.organization, i.settings))
        .collect();

    // Groups that could take a change of a kind: installed, enabled, not already past this key.
    let eligible = |g: &LinkedGroup, kind: SyncKind| -> Result<&SyncSettings, SkipReason> {
        let settings = installs
            .get(&g.organization)
            .ok_or(SkipReason::NotInstalled)?;
        if !settings.enabled(kind) {
            return Err(SkipReason::SyncDisabled);
        }
        guard(g.watermark(kind), event.ordering)?;
        Ok(settings)
    };

    let mut entries: Vec<(GroupOutcome, Pending)> = Vec::new();
    let mut push = |g: &LinkedGroup, kind: SyncKind, p: Pending| {
        entries.push((
            GroupOutcome {
                group: g.group.clone(),
                organization: g.organization.clone(),
                kind,
                result: GroupResult::Unchanged,
            },
            p,
        ));
    };

    // Assignee: resolve the candidates once, only if some group can take the change.
    let assignee_intent = match &event.assignee {
        Some(change)
            if groups
                .values()
                .any(|g| eligible(g, SyncKind::Assignee).is_ok()) =>
        {
            Some(assignee_intent(store, event, change).await?)
        }
        _ => None,
    };
    let mut membership: HashMap<(ProjectId, UserId), bool> = HashMap::new();

    for g in groups.values() {
        if event.assignee.is_some() {
            let kind = SyncKind::Assignee;
            let decided = match (eligible(g, kind), &assignee_intent) {
                (Err(reason), _) => Err(reason),
                (Ok(_), Some(AssigneeIntent::NoUser(reason))) => Err(*reason),
                (Ok(_), Some(AssigneeIntent::Deassign)) => Ok(Change::Deassign),
                (Ok(_), Some(AssigneeIntent::Candidates(candidates))) => {
                    let mut chosen = None;
                    for user in candidates {
                        let key = (g.project.clone(), user.clone());
                        let member = if let Some(m) = membership.get(&key) {
                            *m
                        } else {
                            let m = store
                                .is_project_member(&g.project, user)
                                .await
                                .map_err(SyncError::Store)?;
                            membership.insert(key, m);
                            m
                        };
                        if member {
                            chosen = Some(user.clone());
                            break;
                        }
                    }
                    chosen
                        .map(Change::Assign)
                        .ok_or(SkipReason::NotProjectMember)
                }
                // Unreachable: the intent is computed whenever some group is eligible.
                (Ok(_), None) => Err(SkipReason::NoMatchingUser),
            };
            push(g, kind, decide_entry(&mut plan, g, decided, event));
        }
        if let Some(change) = &event.status {
            let kind = SyncKind::Status;
            let decided = eligible(g, kind).and_then(|settings| {
                match status_action(
                    change,
                    event.jira_project_key.as_deref(),
                    &settings.status_mapping,
                ) {
                    StatusAction::Resolve => Ok(Change::Resolve),
                    StatusAction::Unresolve => Ok(Change::Unresolve),
                    StatusAction::Noop => Err(SkipReason::NoResolutionChange),
                }
            });
            push(g, kind, decide_entry(&mut plan, g, decided, event));
        }
    }

    commit_and_report(store, plan, entries, outcome).await
}

/// At most this many moves are followed from one key.
const MAX_MOVES: usize = 16;

/// `start`, then every key it was moved to ([`Store::moved_to`]), without repeats. With
/// `newer_than`, only moves recorded by events newer than that key are followed.
async fn follow_moves<S: Store>(
    store: &S,
    integration: &IntegrationId,
    start: &IssueKey,
    newer_than: Option<OrderingKey>,
) -> Result<Vec<IssueKey>, SyncError<S::Error>> {
    let mut chain = vec![start.clone()];
    while chain.len() <= MAX_MOVES {
        let Some(last) = chain.last() else { break };
        match store
            .moved_to(integration, last)
            .await
            .map_err(SyncError::Store)?
        {
            Some(m) if !chain.contains(&m.to) && newer_than.is_none_or(|o| m.ordering > o) => {
                chain.push(m.to);
            }
            _ => break,
        }
    }
    Ok(chain)
}

fn validate<E>(event: &InboundEvent) -> Result<(), SyncError<E>> {
    if event.integration.as_str().is_empty() {
        return Err(SyncError::InvalidEvent("the integration id is empty"));
    }
    if event.issue_key.as_str().trim().is_empty() {
        return Err(SyncError::InvalidEvent("the issue key is empty"));
    }
    if let Some(k) = &event.key_change
        && (k.from.as_str().trim().is_empty() || k.to.as_str().trim().is_empty())
    {
        return Err(SyncError::InvalidEvent(
            "the key change has an empty old or new key",
        ));
    }
    Ok(())
}

fn decide_entry(
    plan: &mut Plan,
    g: &LinkedGroup,
    decided: Result<Change, SkipReason>,
    event: &InboundEvent,
) -> Pending {
    match decided {
        Ok(change) => {
            plan.mutations
                .push(Mutation::new(g.group.clone(), change, event.ordering));
            Pending::Mutation(plan.mutations.len() - 1)
        }
        Err(reason) => Pending::Done(GroupResult::Skipped { reason }),
    }
}

async fn assignee_intent<S: Store>(
    store: &S,
    event: &InboundEvent,
    change: &AssigneeChange,
) -> Result<AssigneeIntent, SyncError<S::Error>> {
    let user: &JiraUser = match change {
        AssigneeChange::Cleared => return Ok(AssigneeIntent::Deassign),
        AssigneeChange::Set(user) => user,
    };
    let mut mapped = None;
    for id in user.mapping_candidates() {
        if let Some(u) = store
            .mapped_user(&event.integration, id)
            .await
            .map_err(SyncError::Store)?
        {
            mapped = Some(u);
            break;
        }
    }
    let email = user.usable_email();
    let by_email = match email {
        Some(e) => store
            .users_by_verified_email(e)
            .await
            .map_err(SyncError::Store)?,
        None => Vec::new(),
    };
    let candidates = candidate_order(mapped, by_email);
    Ok(if !candidates.is_empty() {
        AssigneeIntent::Candidates(candidates)
    } else if email.is_none() {
        AssigneeIntent::NoUser(SkipReason::EmailHidden)
    } else {
        AssigneeIntent::NoUser(SkipReason::NoMatchingUser)
    })
}

/// Whether an explicit mapping settles the assignee `user` for every group linked to `keys`
/// (and to the keys they were moved to): the mapped user that [`sync_inbound`] would try first
/// exists (mapped to the user's key, name or account id, and **active**: see
/// [`Store::mapped_user`]) and is a member of the project of each of those groups.
///
/// When it does not (no mapping, the mapped user inactive, or not a member of some group's
/// project), `sync_inbound` falls back to the users with the Jira user's verified e-mail for
/// the groups the mapping does not serve, so a caller that can learn a hidden e-mail (Jira's
/// user API) should look it up first. Groups of organizations that did not install the
/// integration count too (the check is cheap and errs towards looking the e-mail up).
pub async fn mapping_settles<S: Store>(
    store: &S,
    integration: &IntegrationId,
    user: &JiraUser,
    keys: &[IssueKey],
) -> Result<bool, SyncError<S::Error>> {
    let mut mapped = None;
    for id in user.mapping_candidates() {
        if let Some(u) = store
            .mapped_user(integration, id)
            .await
            .map_err(SyncError::Store)?
        {
            mapped = Some(u);
            break;
        }
    }
    let Some(mapped) = mapped else {
        return Ok(false);
    };
    let mut projects: Vec<ProjectId> = Vec::new();
    for key in keys {
        for key in follow_moves(store, integration, key, None).await? {
            for g in store
                .linked_groups(integration, &key)
                .await
                .map_err(SyncError::Store)?
            {
                if !projects.contains(&g.project) {
                    projects.push(g.project);
                }
            }
        }
    }
    for project in &projects {
        if !store
            .is_project_member(project, &mapped)
            .await
            .map_err(SyncError::Store)?
        {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn commit_and_report<S: Store>(
    store: &S,
    plan: Plan,
    entries: Vec<(GroupOutcome, Pending)>,
    mut outcome: SyncOutcome,
) -> Result<SyncOutcome, SyncError<S::Error>> {
    let results = if plan.is_empty() {
        Vec::new()
    } else {
        store.commit(&plan).await.map_err(SyncError::Store)?
    };
    if results.len() != plan.mutations.len() {
        return Err(SyncError::StoreContract {
            expected: plan.mutations.len(),
            got: results.len(),
        });
    }
    for (mut entry, pending) in entries {
        entry.result = match pending {
            Pending::Done(r) => r,
            Pending::Mutation(i) => match (results.get(i), plan.mutations.get(i)) {
                (Some(r), Some(m)) => result_of(*r, &m.change),
                // Lengths were checked above.
                _ => GroupResult::Skipped {
                    reason: SkipReason::GroupMissing,
                },
            },
        };
        outcome.groups.push(entry);
    }
    outcome
        .groups
        .sort_by(|a, b| a.group.cmp(&b.group).then(a.kind.cmp(&b.kind)));
    Ok(outcome)
}

fn result_of(r: MutationResult, change: &Change) -> GroupResult {
    match r {
        MutationResult::Applied { changed: true } => match change {
            Change::Assign(user) => GroupResult::Assigned { user: user.clone() },
            Change::Deassign => GroupResult::Deassigned,
            Change::Resolve => GroupResult::Resolved,
            Change::Unresolve => GroupResult::Unresolved,
        },
        MutationResult::Applied { changed: false } => GroupResult::Unchanged,
        MutationResult::Stale => GroupResult::Skipped {
            reason: SkipReason::Stale,
        },
        MutationResult::Duplicate => GroupResult::Skipped {
            reason: SkipReason::Duplicate,
        },
        MutationResult::GroupMissing => GroupResult::Skipped {
            reason: SkipReason::GroupMissing,
        },
    }
}
