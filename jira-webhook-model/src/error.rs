//! The parse error.

use serde_json::error::Category;

/// Why a webhook body could not be parsed.
///
/// Members of unexpected types never cause an error (they are kept raw); only bodies that are
/// not JSON, nest too deeply or are not a JSON object do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The body is not valid JSON.
    #[error(
        "webhook body is not valid JSON at line {line}, column {column}: {source}; \
         check that the raw request body (UTF-8 JSON) is passed, not a decoded or truncated copy"
    )]
    Syntax {
        /// The underlying serde_json error.
        source: serde_json::Error,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// The body ended early (empty or truncated).
    #[error(
        "webhook body ended early at line {line}, column {column}: {source}; \
         the request body is empty or was cut off"
    )]
    Truncated {
        /// The underlying serde_json error.
        source: serde_json::Error,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// The body nests arrays/objects too deeply: deeper than serde_json's limit of 128
    /// levels, or deeper than 100 levels inside one unmodelled member.
    #[error(
        "webhook body nests JSON too deeply (limit 128 levels, 100 inside one member) at line \
         {line}, column {column}; no Jira delivery does this, reject the request"
    )]
    TooDeep {
        /// The underlying serde_json error.
        source: serde_json::Error,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// The body is JSON but not an object (a Jira delivery is always a JSON object).
    #[error(
        "webhook body is JSON but not a Jira delivery object: {source}; check the sender and URL"
    )]
    NotAnObject {
        /// The underlying serde_json error.
        source: serde_json::Error,
    },
    /// Reading the body failed.
    #[error("could not read the webhook body: {source}")]
    Io {
        /// The underlying serde_json error.
        source: serde_json::Error,
    },
}

impl ParseError {
    /// The underlying serde_json error.
    pub fn json_error(&self) -> &serde_json::Error {
        match self {
            ParseError::Syntax { source, .. }
            | ParseError::Truncated { source, .. }
            | ParseError::TooDeep { source, .. }
            | ParseError::NotAnObject { source }
            | ParseError::Io { source } => source,
        }
    }
}

impl From<serde_json::Error> for ParseError {
    fn from(source: serde_json::Error) -> Self {
        let (line, column) = (source.line(), source.column());
        let too_deep = source.to_string().starts_with("recursion limit exceeded");
        match source.classify() {
            Category::Io => ParseError::Io { source },
            Category::Eof => ParseError::Truncated {
                source,
                line,
                column,
            },
            Category::Syntax | Category::Data if too_deep => ParseError::TooDeep {
                source,
                line,
                column,
            },
            Category::Data => ParseError::NotAnObject { source },
            Category::Syntax => ParseError::Syntax {
                source,
                line,
                column,
            },
        }
    }
}
