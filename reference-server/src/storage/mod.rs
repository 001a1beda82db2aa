//! Storage backends of the server; [`postgres`] is the PostgreSQL backend's foundation.

pub mod postgres;
