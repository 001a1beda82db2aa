//! jira-oauth (work in progress).
