//! jira-webhook-model (work in progress).
