//! Comparing and updating issue snapshots on the modelled fields.

use std::collections::BTreeSet;

use crate::changelog::{Change, NamedRef, ProjectRef, StatusRef, UserRef};
use crate::field::{Field, Id};
use crate::model::{Issue, IssueFields, Named, Project, Status, User};

/// The modelled view of an issue: the fields [`diff`] compares and [`Issue::apply_changes`]
/// writes. `null`, absent and values of an unexpected JSON type all count as `None`; labels,
/// fix versions and components are compared as sets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Modelled {
    /// `key`
    pub key: Option<String>,
    /// `fields.project` (id, key, name)
    pub project: Option<ProjectRef>,
    /// `fields.summary`
    pub summary: Option<String>,
    /// `fields.description`
    pub description: Option<String>,
    /// `fields.status` (id, name)
    pub status: Option<StatusRef>,
    /// `fields.assignee` ([`User::identity`], display name)
    pub assignee: Option<UserRef>,
    /// `fields.priority` (id, name)
    pub priority: Option<NamedRef>,
    /// `fields.resolution` (id, name)
    pub resolution: Option<NamedRef>,
    /// `fields.labels`
    pub labels: BTreeSet<String>,
    /// `fields.fixVersions` (id, name)
    pub fix_versions: BTreeSet<NamedRef>,
    /// `fields.components` (id, name)
    pub components: BTreeSet<NamedRef>,
}

fn refs(list: &Field<Vec<Named>>) -> BTreeSet<NamedRef> {
    list.value()
        .map(|v| v.iter().map(Named::to_ref).collect())
        .unwrap_or_default()
}

impl Issue {
    /// The modelled view of this snapshot.
    pub fn modelled(&self) -> Modelled {
        let key = self.key.as_str().map(str::to_owned);
        let Some(f) = self.fields.value() else {
            return Modelled {
                key,
                ..Modelled::default()
            };
        };
        Modelled {
            key,
            project: f.project.value().map(Project::to_ref),
            summary: f.summary.as_str().map(str::to_owned),
            description: f.description.as_str().map(str::to_owned),
            status: f.status.value().map(Status::to_ref),
            assignee: f.assignee.value().map(User::to_ref),
            priority: f.priority.value().map(Named::to_ref),
            resolution: f.resolution.value().map(Named::to_ref),
            labels: f
                .labels
                .value()
                .map(|v| v.iter().cloned().collect())
                .unwrap_or_default(),
            fix_versions: refs(&f.fix_versions),
            components: refs(&f.components),
        }
    }

    fn fields_mut(&mut self) -> &mut IssueFields {
        if !matches!(self.fields, Field::Value(_)) {
            self.fields = Field::Value(IssueFields::default());
        }
        match &mut self.fields {
            Field::Value(f) => f,
            _ => unreachable!("fields was just set to a value"),
        }
    }

    /// Applies changes to this snapshot, in order: for each modelled field the new value
    /// replaces the old one (an object is rebuilt from the reference: a new assignee gets
    /// `key` = the reference id and `displayName`); labels, fix versions and components get
    /// the removed entries dropped and the added ones appended. Sprint and other changes are
    /// not modelled on snapshots and are ignored.
    pub fn apply_changes(&mut self, changes: &[Change]) {
        for change in changes {
            self.apply_change(change);
        }
    }

    /// Applies one change. See [`Issue::apply_changes`].
    pub fn apply_change(&mut self, change: &Change) {
        match change {
            Change::IssueKey { to, .. } => self.key = Field::from_option(to.clone()),
            Change::Project { to, .. } => {
                self.fields_mut().project = Field::from_option(to.as_ref().map(|p| Project {
                    id: opt_id(p.id.as_ref()),
                    key: opt(p.key.as_ref()),
                    name: opt(p.name.as_ref()),
                    ..Project::default()
                }));
            }
            Change::Summary { to, .. } => {
                self.fields_mut().summary = Field::from_option(to.clone());
            }
            Change::Description { to, .. } => {
                self.fields_mut().description = Field::from_option(to.clone());
            }
            Change::Status { to, .. } => {
                self.fields_mut().status = Field::from_option(to.as_ref().map(|s| Status {
                    id: opt_id(s.id.as_ref()),
                    name: opt(s.name.as_ref()),
                    ..Status::default()
                }));
            }
            Change::Assignee { to, .. } => {
                self.fields_mut().assignee = Field::from_option(to.as_ref().map(|u| User {
                    key: opt(u.id.as_ref()),
                    display_name: opt(u.display.as_ref()),
                    ..User::default()
                }));
            }
            Change::Priority { to, .. } => {
                self.fields_mut().priority = Field::from_option(to.as_ref().map(named));
            }
            Change::Resolution { to, .. } => {
                self.fields_mut().resolution = Field::from_option(to.as_ref().map(named));
            }
            Change::Labels { added, removed } => {
                let f = self.fields_mut();
                let mut labels = f.labels.value().cloned().unwrap_or_default();
                labels.retain(|l| !removed.contains(l));
                for a in added {
                    if !labels.contains(a) {
                        labels.push(a.clone());
                    }
                }
                f.labels = Field::Value(labels);
            }
            Change::FixVersions { added, removed } => {
                let f = self.fields_mut();
                f.fix_versions = Field::Value(edit_list(&f.fix_versions, added, removed));
            }
            Change::Components { added, removed } => {
                let f = self.fields_mut();
                f.components = Field::Value(edit_list(&f.components, added, removed));
            }
            Change::Sprints { .. } | Change::Other(_) => {}
        }
    }
}

fn opt(s: Option<&String>) -> Field<String> {
    s.map_or(Field::Absent, |s| Field::Value(s.clone()))
}

fn opt_id(s: Option<&String>) -> Field<Id> {
    s.map_or(Field::Absent, |s| Field::Value(Id::new(s.clone())))
}

fn named(r: &NamedRef) -> Named {
    Named {
        id: opt_id(r.id.as_ref()),
        name: opt(r.name.as_ref()),
        ..Named::default()
    }
}

fn edit_list(list: &Field<Vec<Named>>, added: &[NamedRef], removed: &[NamedRef]) -> Vec<Named> {
    let mut out: Vec<Named> = list.value().cloned().unwrap_or_default();
    out.retain(|n| !removed.contains(&n.to_ref()));
    for a in added {
        if !out.iter().any(|n| &n.to_ref() == a) {
            out.push(named(a));
        }
    }
    out
}

fn sorted_delta<T: Ord + Clone>(before: &BTreeSet<T>, after: &BTreeSet<T>) -> (Vec<T>, Vec<T>) {
    (
        after.difference(before).cloned().collect(),
        before.difference(after).cloned().collect(),
    )
}

/// The changes between two snapshots of an issue on the modelled fields (see [`Modelled`]),
/// in a fixed order: key, project, summary, description, status, assignee, priority,
/// resolution, labels, fix versions, components. Empty exactly when the modelled views are
/// equal; applying the result to `before` ([`Issue::apply_changes`]) gives `after`'s
/// modelled view.
///
/// Useful when polling `GET /rest/api/2/issue/{key}` instead of receiving webhooks: the same
/// [`Change`] type comes out.
pub fn diff(before: &Issue, after: &Issue) -> Vec<Change> {
    let a = before.modelled();
    let b = after.modelled();
    let mut out = Vec::new();
    if a.key != b.key {
        out.push(Change::IssueKey {
            from: a.key,
            to: b.key,
        });
    }
    if a.project != b.project {
        out.push(Change::Project {
            from: a.project,
            to: b.project,
        });
    }
    if a.summary != b.summary {
        out.push(Change::Summary {
            from: a.summary,
            to: b.summary,
        });
    }
    if a.description != b.description {
        out.push(Change::Description {
            from: a.description,
            to: b.description,
        });
    }
    if a.status != b.status {
        out.push(Change::Status {
            from: a.status,
            to: b.status,
        });
    }
    if a.assignee != b.assignee {
        out.push(Change::Assignee {
            from: a.assignee,
            to: b.assignee,
        });
    }
    if a.priority != b.priority {
        out.push(Change::Priority {
            from: a.priority,
            to: b.priority,
        });
    }
    if a.resolution != b.resolution {
        out.push(Change::Resolution {
            from: a.resolution,
            to: b.resolution,
        });
    }
    if a.labels != b.labels {
        let (added, removed) = sorted_delta(&a.labels, &b.labels);
        out.push(Change::Labels { added, removed });
    }
    if a.fix_versions != b.fix_versions {
        let (added, removed) = sorted_delta(&a.fix_versions, &b.fix_versions);
        out.push(Change::FixVersions { added, removed });
    }
    if a.components != b.components {
        let (added, removed) = sorted_delta(&a.components, &b.components);
        out.push(Change::Components { added, removed });
    }
    out
}
