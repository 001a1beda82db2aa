//! The `changelog` of an issue update and its typed [`Change`]s.

use crate::field::Id;

json_object! {
    /// The `changelog` of a `jira:issue_updated` delivery: `{id, items: [...]}`.
    pub struct Changelog {
        /// `id`: change-group id (a string; some producers send a number).
        "id" => id: Id,
        /// `items`: one entry per changed field; may be empty.
        "items" => items: Vec<ChangelogItem>,
    }
}

json_object! {
    /// One changed field: `{field, fieldtype, fieldId?, from, fromString, to, toString}`.
    pub struct ChangelogItem {
        /// `field`: an id (`assignee`) or a display name (`Fix Version`, custom field names).
        "field" => field: String,
        /// `fieldtype`: `jira` or `custom`.
        "fieldtype" => field_type: String,
        /// `fieldId`: present on Cloud (and probably DC 9+), absent on Server 7/8.
        "fieldId" => field_id: String,
        /// `from`: raw old value (status id, user key/name/accountId, option id, ...).
        "from" => from: String,
        /// `fromString`: old display value.
        "fromString" => from_string: String,
        /// `to`: raw new value.
        "to" => to: String,
        /// `toString`: new display value.
        "toString" => to_string: String,
    }
}

impl Changelog {
    /// The items (empty when `items` is missing or not an array of objects).
    pub fn items(&self) -> &[ChangelogItem] {
        self.items.value().map_or(&[], Vec::as_slice)
    }

    /// One typed [`Change`] per item, in order.
    pub fn changes(&self) -> Vec<Change> {
        self.items().iter().map(ChangelogItem::change).collect()
    }

    /// The last assignee change, if any item changes the assignee. On Server the `from`/`to`
    /// ids are usernames, on DC user keys (`JIRAUSER10100`), on Cloud account ids; the new
    /// assignee's full record is in `issue.fields.assignee`.
    pub fn assignee_change(&self) -> Option<Transition<UserRef>> {
        self.changes().into_iter().rev().find_map(|c| match c {
            Change::Assignee { from, to } => Some(Transition { from, to }),
            _ => None,
        })
    }

    /// The last status change (ids are status ids), if any.
    pub fn status_change(&self) -> Option<Transition<StatusRef>> {
        self.changes().into_iter().rev().find_map(|c| match c {
            Change::Status { from, to } => Some(Transition { from, to }),
            _ => None,
        })
    }

    /// The last issue key change (the issue moved to another project), if any.
    pub fn key_change(&self) -> Option<Transition<String>> {
        self.changes().into_iter().rev().find_map(|c| match c {
            Change::IssueKey { from, to } => Some(Transition { from, to }),
            _ => None,
        })
    }
}

/// An old and a new value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition<T> {
    /// The old value (`None`: unset).
    pub from: Option<T>,
    /// The new value (`None`: unset).
    pub to: Option<T>,
}

/// A user as a changelog names it: the stored identifier and the display name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct UserRef {
    /// The stored identifier as given: username (Server), user key (DC, `JIRAUSER10100`) or
    /// account id (Cloud). From a snapshot: `key`, else `accountId`, else `name`.
    pub id: Option<String>,
    /// The display name.
    pub display: Option<String>,
}

impl UserRef {
    /// A user reference from an identifier and a display name.
    pub fn new(id: Option<String>, display: Option<String>) -> Self {
        UserRef { id, display }
    }
}

/// A status as a changelog names it: id and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct StatusRef {
    /// Status id (`"3"`).
    pub id: Option<String>,
    /// Status name (`"In Progress"`).
    pub name: Option<String>,
}

impl StatusRef {
    /// A status reference.
    pub fn new(id: Option<String>, name: Option<String>) -> Self {
        StatusRef { id, name }
    }
}

/// An id/name pair: priority, resolution, version, component or sprint.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct NamedRef {
    /// The id (`"10000"`).
    pub id: Option<String>,
    /// The display name.
    pub name: Option<String>,
}

impl NamedRef {
    /// An id/name reference.
    pub fn new(id: Option<String>, name: Option<String>) -> Self {
        NamedRef { id, name }
    }
}

/// A project reference. From a changelog only `id` and `name` are known (Jira puts the
/// project name in `fromString`/`toString`; some producers put the key there).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct ProjectRef {
    /// Project id.
    pub id: Option<String>,
    /// Project key (only from snapshots).
    pub key: Option<String>,
    /// Project name (the display string of a changelog item).
    pub name: Option<String>,
}

impl ProjectRef {
    /// A project reference.
    pub fn new(id: Option<String>, key: Option<String>, name: Option<String>) -> Self {
        ProjectRef { id, key, name }
    }
}

/// A changelog item Jira-agnostic code has no typed view of (custom fields included).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OtherChange {
    /// `fieldId`, if sent.
    pub field_id: Option<String>,
    /// `field` as sent.
    pub field: Option<String>,
    /// `fieldtype` as sent.
    pub field_type: Option<String>,
    /// Raw `from`.
    pub from: Option<String>,
    /// `fromString`.
    pub from_string: Option<String>,
    /// Raw `to`.
    pub to: Option<String>,
    /// `toString`.
    pub to_string: Option<String>,
}

/// A typed change of one issue field, from a changelog item ([`ChangelogItem::change`]) or
/// from comparing two snapshots ([`crate::diff`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// Assignee changed (`None`: unassigned).
    Assignee {
        /// Old assignee.
        from: Option<UserRef>,
        /// New assignee.
        to: Option<UserRef>,
    },
    /// Status changed.
    Status {
        /// Old status.
        from: Option<StatusRef>,
        /// New status.
        to: Option<StatusRef>,
    },
    /// Resolution changed (`None`: unresolved).
    Resolution {
        /// Old resolution.
        from: Option<NamedRef>,
        /// New resolution.
        to: Option<NamedRef>,
    },
    /// Priority changed.
    Priority {
        /// Old priority.
        from: Option<NamedRef>,
        /// New priority.
        to: Option<NamedRef>,
    },
    /// Summary changed.
    Summary {
        /// Old text.
        from: Option<String>,
        /// New text.
        to: Option<String>,
    },
    /// Description changed.
    Description {
        /// Old text.
        from: Option<String>,
        /// New text.
        to: Option<String>,
    },
    /// Labels added/removed. Jira sends the whole label set space-separated in
    /// `fromString`/`toString`; the sets are split on whitespace and compared.
    Labels {
        /// Labels added, sorted.
        added: Vec<String>,
        /// Labels removed, sorted.
        removed: Vec<String>,
    },
    /// Fix versions added/removed (Jira sends one item per version: `from` = removed
    /// version id, `to` = added version id).
    FixVersions {
        /// Versions added.
        added: Vec<NamedRef>,
        /// Versions removed.
        removed: Vec<NamedRef>,
    },
    /// Components added/removed (one item per component, like fix versions).
    Components {
        /// Components added.
        added: Vec<NamedRef>,
        /// Components removed.
        removed: Vec<NamedRef>,
    },
    /// Sprints added/removed. Jira sends the whole sprint list: comma-separated ids in
    /// `from`/`to` and comma-separated names in `fromString`/`toString`; names are paired
    /// with ids only when the counts agree.
    Sprints {
        /// Sprints added.
        added: Vec<NamedRef>,
        /// Sprints removed.
        removed: Vec<NamedRef>,
    },
    /// The issue key changed (the issue moved to another project): `APP-123` to
    /// `PLATFORM-45` (taken from `fromString`/`toString`, falling back to `from`/`to`).
    IssueKey {
        /// Old key.
        from: Option<String>,
        /// New key.
        to: Option<String>,
    },
    /// The project changed.
    Project {
        /// Old project.
        from: Option<ProjectRef>,
        /// New project.
        to: Option<ProjectRef>,
    },
    /// Any other field, kept raw.
    Other(OtherChange),
}

/// The kind of a [`Change`], with the lower-case names used by the `inspect` example.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChangeKind {
    /// `assignee`
    Assignee,
    /// `status`
    Status,
    /// `resolution`
    Resolution,
    /// `priority`
    Priority,
    /// `summary`
    Summary,
    /// `description`
    Description,
    /// `labels`
    Labels,
    /// `fix_versions`
    FixVersions,
    /// `components`
    Components,
    /// `sprints`
    Sprints,
    /// `key`
    IssueKey,
    /// `project`
    Project,
    /// `other`
    Other,
}

impl ChangeKind {
    /// `assignee`, `status`, ..., `fix_versions`, `key`, `project`, `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Assignee => "assignee",
            ChangeKind::Status => "status",
            ChangeKind::Resolution => "resolution",
            ChangeKind::Priority => "priority",
            ChangeKind::Summary => "summary",
            ChangeKind::Description => "description",
            ChangeKind::Labels => "labels",
            ChangeKind::FixVersions => "fix_versions",
            ChangeKind::Components => "components",
            ChangeKind::Sprints => "sprints",
            ChangeKind::IssueKey => "key",
            ChangeKind::Project => "project",
            ChangeKind::Other => "other",
        }
    }

    /// Recognises a field from its `fieldId` (when sent) or its `field` name, matched
    /// case-insensitively against Jira's ids and display names. A custom field (`fieldId`
    /// `customfield_*`) is only recognised as a sprint field (by its name `Sprint`).
    pub fn recognise(field_id: Option<&str>, field: Option<&str>) -> ChangeKind {
        if let Some(id) = field_id {
            let by_id = Self::by_name(id);
            if by_id != ChangeKind::Other {
                return by_id;
            }
            if !id.to_ascii_lowercase().starts_with("customfield_") {
                // A system field id we do not model; the name may still be a known one.
                return field.map_or(ChangeKind::Other, Self::by_name);
            }
            return match field.map(Self::by_name) {
                Some(ChangeKind::Sprints) => ChangeKind::Sprints,
                _ => ChangeKind::Other,
            };
        }
        field.map_or(ChangeKind::Other, Self::by_name)
    }

    /// Recognises a changelog item from its `fieldId`, `field` and `fieldtype`: as
    /// [`recognise`](Self::recognise), except that an item without `fieldId` whose `fieldtype`
    /// is `custom` is a custom field whatever its name (a custom field named "Status",
    /// "Assignee" or "Key" is not the system field), recognised only as a sprint field.
    ///
    /// ```
    /// use jira_webhook_model::ChangeKind;
    ///
    /// assert_eq!(ChangeKind::recognise_item(None, Some("Status"), Some("jira")), ChangeKind::Status);
    /// assert_eq!(ChangeKind::recognise_item(None, Some("Status"), Some("custom")), ChangeKind::Other);
    /// assert_eq!(ChangeKind::recognise_item(None, Some("Sprint"), Some("custom")), ChangeKind::Sprints);
    /// ```
    pub fn recognise_item(
        field_id: Option<&str>,
        field: Option<&str>,
        field_type: Option<&str>,
    ) -> ChangeKind {
        let custom = field_type.is_some_and(|t| t.trim().eq_ignore_ascii_case("custom"));
        if field_id.is_none() && custom {
            return match field.map(Self::by_name) {
                Some(ChangeKind::Sprints) => ChangeKind::Sprints,
                _ => ChangeKind::Other,
            };
        }
        Self::recognise(field_id, field)
    }

    fn by_name(name: &str) -> ChangeKind {
        let n = name.trim().to_ascii_lowercase();
        match n.as_str() {
            "assignee" => ChangeKind::Assignee,
            "status" => ChangeKind::Status,
            "resolution" => ChangeKind::Resolution,
            "priority" => ChangeKind::Priority,
            "summary" => ChangeKind::Summary,
            "description" => ChangeKind::Description,
            "labels" | "label" => ChangeKind::Labels,
            "fixversions" | "fixversion" | "fix version" | "fix versions" | "fix version/s" => {
                ChangeKind::FixVersions
            }
            "components" | "component" | "component/s" => ChangeKind::Components,
            "sprint" | "sprints" => ChangeKind::Sprints,
            "key" | "issuekey" | "issue key" => ChangeKind::IssueKey,
            "project" => ChangeKind::Project,
            _ => ChangeKind::Other,
        }
    }
}

impl Change {
    /// The kind of change.
    pub fn kind(&self) -> ChangeKind {
        match self {
            Change::Assignee { .. } => ChangeKind::Assignee,
            Change::Status { .. } => ChangeKind::Status,
            Change::Resolution { .. } => ChangeKind::Resolution,
            Change::Priority { .. } => ChangeKind::Priority,
            Change::Summary { .. } => ChangeKind::Summary,
            Change::Description { .. } => ChangeKind::Description,
            Change::Labels { .. } => ChangeKind::Labels,
            Change::FixVersions { .. } => ChangeKind::FixVersions,
            Change::Components { .. } => ChangeKind::Components,
            Change::Sprints { .. } => ChangeKind::Sprints,
            Change::IssueKey { .. } => ChangeKind::IssueKey,
            Change::Project { .. } => ChangeKind::Project,
            Change::Other(_) => ChangeKind::Other,
        }
    }
}

fn owned(s: Option<&str>) -> Option<String> {
    s.map(str::to_owned)
}

fn pair<T>(
    raw: Option<&str>,
    display: Option<&str>,
    make: impl Fn(Option<String>, Option<String>) -> T,
) -> Option<T> {
    if raw.is_none() && display.is_none() {
        None
    } else {
        Some(make(owned(raw), owned(display)))
    }
}

fn split_words(s: Option<&str>) -> Vec<String> {
    let mut v: Vec<String> = s
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Splits a list value: comma-separated ids paired with comma-separated names when the counts
/// agree. A single id keeps the whole display string (names may contain commas).
fn split_refs(ids: Option<&str>, names: Option<&str>) -> Vec<NamedRef> {
    let id_list: Vec<&str> = ids
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    match (id_list.len(), names) {
        (0, None) => Vec::new(),
        (0, Some(n)) => {
            let names: Vec<&str> = n
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            if names.len() > 1 {
                names
                    .into_iter()
                    .map(|n| NamedRef::new(None, Some(n.to_owned())))
                    .collect()
            } else if n.trim().is_empty() {
                Vec::new()
            } else {
                vec![NamedRef::new(None, Some(n.to_owned()))]
            }
        }
        (1, n) => id_list
            .first()
            .map(|id| NamedRef::new(Some((*id).to_owned()), owned(n)))
            .into_iter()
            .collect(),
        (_, n) => {
            let names: Vec<&str> = n
                .map(|n| n.split(',').map(str::trim).collect())
                .unwrap_or_default();
            if names.len() == id_list.len() {
                id_list
                    .iter()
                    .zip(names)
                    .map(|(i, n)| NamedRef::new(Some((*i).to_owned()), Some(n.to_owned())))
                    .collect()
            } else {
                id_list
                    .iter()
                    .map(|i| NamedRef::new(Some((*i).to_owned()), None))
                    .collect()
            }
        }
    }
}

fn set_delta(from: &[NamedRef], to: &[NamedRef]) -> (Vec<NamedRef>, Vec<NamedRef>) {
    let same = |a: &NamedRef, b: &NamedRef| match (&a.id, &b.id) {
        (Some(x), Some(y)) => x == y,
        _ => a.name == b.name && a.id == b.id,
    };
    let added = to
        .iter()
        .filter(|t| !from.iter().any(|f| same(f, t)))
        .cloned()
        .collect();
    let removed = from
        .iter()
        .filter(|f| !to.iter().any(|t| same(f, t)))
        .cloned()
        .collect();
    (added, removed)
}

impl ChangelogItem {
    /// The kind of this item ([`ChangeKind::recognise_item`] on `fieldId`, `field` and
    /// `fieldtype`).
    pub fn kind(&self) -> ChangeKind {
        ChangeKind::recognise_item(
            self.field_id.as_str(),
            self.field.as_str(),
            self.field_type.as_str(),
        )
    }

    /// The typed change this item describes.
    pub fn change(&self) -> Change {
        let from = self.from.as_str();
        let to = self.to.as_str();
        let from_s = self.from_string.as_str();
        let to_s = self.to_string.as_str();
        match self.kind() {
            ChangeKind::Assignee => Change::Assignee {
                from: pair(from, from_s, UserRef::new),
                to: pair(to, to_s, UserRef::new),
            },
            ChangeKind::Status => Change::Status {
                from: pair(from, from_s, StatusRef::new),
                to: pair(to, to_s, StatusRef::new),
            },
            ChangeKind::Resolution => Change::Resolution {
                from: pair(from, from_s, NamedRef::new),
                to: pair(to, to_s, NamedRef::new),
            },
            ChangeKind::Priority => Change::Priority {
                from: pair(from, from_s, NamedRef::new),
                to: pair(to, to_s, NamedRef::new),
            },
            ChangeKind::Summary => Change::Summary {
                from: owned(from_s.or(from)),
                to: owned(to_s.or(to)),
            },
            ChangeKind::Description => Change::Description {
                from: owned(from_s.or(from)),
                to: owned(to_s.or(to)),
            },
            ChangeKind::Labels => {
                let before = split_words(from_s.or(from));
                let after = split_words(to_s.or(to));
                Change::Labels {
                    added: after
                        .iter()
                        .filter(|l| !before.contains(l))
                        .cloned()
                        .collect(),
                    removed: before
                        .iter()
                        .filter(|l| !after.contains(l))
                        .cloned()
                        .collect(),
                }
            }
            kind @ (ChangeKind::FixVersions | ChangeKind::Components | ChangeKind::Sprints) => {
                let (added, removed) = set_delta(&split_refs(from, from_s), &split_refs(to, to_s));
                match kind {
                    ChangeKind::FixVersions => Change::FixVersions { added, removed },
                    ChangeKind::Components => Change::Components { added, removed },
                    _ => Change::Sprints { added, removed },
                }
            }
            ChangeKind::IssueKey => Change::IssueKey {
                from: owned(from_s.or(from)),
                to: owned(to_s.or(to)),
            },
            ChangeKind::Project => Change::Project {
                from: pair(from, from_s, |id, name| ProjectRef::new(id, None, name)),
                to: pair(to, to_s, |id, name| ProjectRef::new(id, None, name)),
            },
            ChangeKind::Other => Change::Other(OtherChange {
                field_id: owned(self.field_id.as_str()),
                field: owned(self.field.as_str()),
                field_type: owned(self.field_type.as_str()),
                from: owned(from),
                from_string: owned(from_s),
                to: owned(to),
                to_string: owned(to_s),
            }),
        }
    }
}
