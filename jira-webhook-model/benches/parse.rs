//! Parsing a large (11 KB) realistic `jira:issue_updated` delivery three ways.
fn main() {}
