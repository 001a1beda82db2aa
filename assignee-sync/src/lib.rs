//! assignee-sync (work in progress).
