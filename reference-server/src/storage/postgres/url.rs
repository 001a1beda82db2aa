//! The `--store` value of the PostgreSQL backend: a libpq connection URL, parsed and checked
//! before anything connects.
//!
//! Accepted: `postgres://` and `postgresql://` URLs as libpq reads them
//! (`postgres://user[:password]@host[:port][/database][?param=value&...]`, several
//! `host:port` pairs separated by commas, `?host=/run/postgresql` for a local socket), with
//! libpq's `sslmode` (`disable`, `prefer`: the default, `require`, `verify-ca`, `verify-full`)
//! and `sslrootcert` (a PEM file, or `system`); what each means is in [`super::tls`].
//!
//! Nothing here ever shows the password: [`PgUrl`]'s `Display` and `Debug` print the URL with
//! the password replaced by `***`, [`PgUrl::describe`] names host, port, database and user, and
//! a URL that does not parse is quoted redacted the same way.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::config::{Host, SslMode};

use super::tls::{RootCert, SslMode as TlsMode, TlsSettings};

/// How long a connection attempt may take when the URL does not say (`connect_timeout`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What replaces a password wherever a URL is shown.
const REDACTED: &str = "***";

/// A checked PostgreSQL connection URL (see the module docs).
#[derive(Clone)]
pub struct PgUrl {
    config: tokio_postgres::Config,
    tls: TlsSettings,
    /// The URL as given, password replaced.
    redacted: String,
}

/// Why a `--store` value is not a usable PostgreSQL URL. The messages quote the URL with its
/// password replaced by `***`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PgUrlError {
    /// Not a `postgres://` or `postgresql://` URL.
    #[error(
        "--store {url}: not a PostgreSQL URL; expected postgres://user@host:port/database (or postgresql://...)"
    )]
    NotPostgres {
        /// The value, redacted.
        url: String,
    },
    /// The URL does not parse.
    #[error("--store {url}: invalid PostgreSQL URL: {cause}")]
    Invalid {
        /// The value, redacted.
        url: String,
        /// What the parser said.
        cause: String,
    },
    /// The URL names no host (libpq would use a local socket; say which one).
    #[error(
        "--store {url}: no host; name one (postgres://user@127.0.0.1:5432/database) or a socket directory (postgres://user@/database?host=/run/postgresql)"
    )]
    NoHost {
        /// The value, redacted.
        url: String,
    },
    /// `sslmode` is not one of libpq's values, or `sslrootcert` is empty.
    #[error(
        "--store {url}: {cause}; use sslmode=disable, prefer (the default), require, verify-ca or verify-full, and sslrootcert=<PEM file> (or system) with verify-ca and verify-full"
    )]
    Tls {
        /// The value, redacted.
        url: String,
        /// What is wrong.
        cause: String,
    },
}

impl PgUrl {
    /// Parses and checks a `--store` value (see the module docs).
    pub fn parse(value: &str) -> Result<Self, PgUrlError> {
        let url = redact(value);
        let lower = value.trim_start().to_ascii_lowercase();
        if !(lower.starts_with("postgres://") || lower.starts_with("postgresql://")) {
            return Err(PgUrlError::NotPostgres { url });
        }
        let (for_client, tls) = split_tls(value.trim()).map_err(|cause| PgUrlError::Tls {
            url: url.clone(),
            cause,
        })?;
        let mut config =
            tokio_postgres::Config::from_str(&for_client).map_err(|e| PgUrlError::Invalid {
                cause: scrub(&super::error_chain(&e), value),
                url: url.clone(),
            })?;
        config.ssl_mode(match tls.mode {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            TlsMode::Require | TlsMode::VerifyCa | TlsMode::VerifyFull => SslMode::Require,
        });
        if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
            return Err(PgUrlError::NoHost { url });
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("reference-server");
        }
        Ok(Self {
            config,
            tls,
            redacted: url,
        })
    }

    /// What the URL asks of TLS (`sslmode`, `sslrootcert`).
    pub fn tls(&self) -> &TlsSettings {
        &self.tls
    }

    /// The connection configuration (holds the password; do not print it with `{:?}` of
    /// anything but `tokio_postgres::Config`, which redacts it too).
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// Host(s), port(s), database and user, for messages: `host 127.0.0.1, port 5432,
    /// database test, user postgres`. Never the password.
    pub fn describe(&self) -> String {
        let hosts: Vec<String> = if self.config.get_hosts().is_empty() {
            self.config
                .get_hostaddrs()
                .iter()
                .map(ToString::to_string)
                .collect()
        } else {
            self.config
                .get_hosts()
                .iter()
                .map(|h| match h {
                    Host::Tcp(name) => name.clone(),
                    #[cfg(unix)]
                    Host::Unix(path) => format!("socket {}", path.display()),
                })
                .collect()
        };
        let ports: Vec<String> = match self.config.get_ports() {
            [] => vec!["5432".into()],
            ports => ports.iter().map(ToString::to_string).collect(),
        };
        let user = self.config.get_user().map_or_else(
            || "(not given: the operating system user)".to_owned(),
            str::to_owned,
        );
        let database = match (self.config.get_dbname(), self.config.get_user()) {
            (Some(db), _) => db.to_owned(),
            (None, Some(user)) => user.to_owned(),
            (None, None) => "(not given: the user's name)".to_owned(),
        };
        format!(
            "host {}, port {}, database {database}, user {user}",
            hosts.join(","),
            ports.join(",")
        )
    }
}

impl PgUrl {
    /// `message` with this URL's password (if any) replaced by `***`: for messages that quote
    /// something the server or a library said.
    pub fn hide_password(&self, message: &str) -> String {
        match self.config.get_password().map(String::from_utf8_lossy) {
            Some(password) if !password.is_empty() => message.replace(&*password, REDACTED),
            _ => message.to_owned(),
        }
    }
}

impl FromStr for PgUrl {
    type Err = PgUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgUrl")
            .field("url", &self.redacted)
            .field("target", &self.describe())
            .finish_non_exhaustive()
    }
}

/// Takes `sslmode` and `sslrootcert` out of the URL's query (tokio-postgres knows only some
/// `sslmode` values and no `sslrootcert`): the URL for the client, and the TLS settings.
fn split_tls(url: &str) -> Result<(String, TlsSettings), String> {
    let mut settings = TlsSettings {
        mode: TlsMode::Prefer,
        root_cert: None,
    };
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), settings));
    };
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_encoding::percent_decode_str(v).decode_utf8_lossy();
        match k {
            "sslmode" => {
                settings.mode = TlsMode::parse(&v)
                    .ok_or_else(|| format!("sslmode={v} is not a libpq sslmode"))?;
            }
            "sslrootcert" if v.is_empty() => return Err("sslrootcert is empty".to_owned()),
            "sslrootcert" if v == "system" => settings.root_cert = Some(RootCert::System),
            "sslrootcert" => settings.root_cert = Some(RootCert::File(v.into_owned().into())),
            _ => kept.push(pair),
        }
    }
    let for_client = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((for_client, settings))
}

/// `url` with the password of its user info and of a `password=` parameter replaced by
/// [`REDACTED`]. Works on malformed input too (it only looks for the delimiters).
fn redact(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let (before_query, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let (scheme, rest) = match before_query.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, before_query),
    };
    if let Some(scheme) = scheme {
        out.push_str(scheme);
        out.push_str("://");
    }
    // The user info ends at the last `@` (a password with an unencoded `/` or `@` is still
    // hidden whole).
    match rest.rsplit_once('@') {
        Some((userinfo, hosts_and_path)) => {
            match userinfo.split_once(':') {
                Some((user, _password)) => {
                    out.push_str(user);
                    out.push(':');
                    out.push_str(REDACTED);
                }
                None => out.push_str(userinfo),
            }
            out.push('@');
            out.push_str(hosts_and_path);
        }
        None => out.push_str(rest),
    }
    if let Some(query) = query {
        out.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}={REDACTED}"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    out
}

/// The passwords `url` holds (as written and percent-decoded), to scrub them from a message
/// that might quote them.
fn passwords(url: &str) -> Vec<String> {
    let mut found = Vec::new();
    let before_query = url.split('?').next().unwrap_or(url);
    if let Some((_, rest)) = before_query.split_once("://")
        && let Some((userinfo, _)) = rest.rsplit_once('@')
        && let Some((_, password)) = userinfo.split_once(':')
    {
        found.push(password.to_owned());
    }
    if let Some((_, query)) = url.split_once('?') {
        for pair in query.split('&') {
            if let Some((k, v)) = pair.split_once('=')
                && k.eq_ignore_ascii_case("password")
            {
                found.push(v.to_owned());
            }
        }
    }
    let decoded: Vec<String> = found
        .iter()
        .filter_map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8()
                .ok()
                .map(std::borrow::Cow::into_owned)
        })
        .collect();
    found.extend(decoded);
    found.retain(|p| !p.is_empty());
    found
}

/// `message` with every password of `url` replaced by [`REDACTED`].
pub(crate) fn scrub(message: &str, url: &str) -> String {
    let mut out = message.to_owned();
    for password in passwords(url) {
        out = out.replace(&password, REDACTED);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "pa55w0rd-Zq9";

    fn err(value: &str) -> String {
        PgUrl::parse(value)
            .expect_err("must be refused")
            .to_string()
    }

    #[test]
    fn a_plain_url_is_described() {
        let url = PgUrl::parse("postgres://postgres@127.0.0.1:5432/test").expect("parse");
        assert_eq!(
            url.describe(),
            "host 127.0.0.1, port 5432, database test, user postgres"
        );
        assert_eq!(url.to_string(), "postgres://postgres@127.0.0.1:5432/test");
        assert_eq!(
            url.config().get_connect_timeout(),
            Some(&DEFAULT_CONNECT_TIMEOUT)
        );
    }

    #[test]
    fn postgresql_scheme_default_port_and_database() {
        let url = PgUrl::parse("postgresql://app@db.example.org").expect("parse");
        assert_eq!(
            url.describe(),
            "host db.example.org, port 5432, database app, user app"
        );
    }

    #[test]
    fn several_hosts_a_socket_and_parameters() {
        let url = PgUrl::parse("postgres://u@h1:5433,h2:5434/d?connect_timeout=3&sslmode=prefer")
            .expect("parse");
        assert_eq!(
            url.describe(),
            "host h1,h2, port 5433,5434, database d, user u"
        );
        assert_eq!(
            url.config().get_connect_timeout(),
            Some(&Duration::from_secs(3))
        );
        let socket =
            PgUrl::parse("postgres://u@/d?host=/run/postgresql&sslmode=disable").expect("parse");
        assert_eq!(
            socket.describe(),
            "host socket /run/postgresql, port 5432, database d, user u"
        );
    }

    #[test]
    fn the_password_is_never_shown() {
        let value = format!("postgres://alice:{SECRET}@10.0.0.5:6543/prod");
        let url = PgUrl::parse(&value).expect("parse");
        assert_eq!(url.config().get_password(), Some(SECRET.as_bytes()));
        for shown in [
            url.to_string(),
            format!("{url:?}"),
            format!("{url:#?}"),
            url.describe(),
        ] {
            assert!(!shown.contains(SECRET), "{shown}");
        }
        assert_eq!(url.to_string(), "postgres://alice:***@10.0.0.5:6543/prod");
        assert_eq!(
            url.describe(),
            "host 10.0.0.5, port 6543, database prod, user alice"
        );
        // as a parameter, and in the messages of refused URLs
        let param = format!("postgres://alice@h/db?password={SECRET}");
        assert_eq!(
            PgUrl::parse(&param).expect("parse").to_string(),
            "postgres://alice@h/db?password=***"
        );
        for bad in [
            format!("postgres://alice:{SECRET}@h:notaport/db"),
            format!("postgres://alice:{SECRET}@h/db?sslmode=always"),
            format!("postgres://alice:{SECRET}@h/db?bogus=1"),
            format!("mysql://alice:{SECRET}@h/db"),
            format!("postgres://alice@h/db?password={SECRET}&sslmode=verify-fully"),
        ] {
            let e = PgUrl::parse(&bad).expect_err("refused");
            for shown in [e.to_string(), format!("{e:?}")] {
                assert!(!shown.contains(SECRET), "{shown}");
            }
        }
    }

    #[test]
    fn refused_urls_say_why() {
        assert_eq!(
            err("/var/lib/reference-server"),
            "--store /var/lib/reference-server: not a PostgreSQL URL; expected postgres://user@host:port/database (or postgresql://...)"
        );
        assert_eq!(
            err("postgres://bob:hunter2@h:notaport/db"),
            "--store postgres://bob:***@h:notaport/db: invalid PostgreSQL URL: invalid connection string: invalid value for option `port`"
        );
        assert!(
            err("postgres://bob@h/db?sslmode=sometimes")
                .starts_with("--store postgres://bob@h/db?sslmode=sometimes: sslmode=sometimes is not a libpq sslmode; use sslmode=disable")
        );
        assert!(err("postgres://bob@h/db?sslrootcert=").contains("sslrootcert is empty"));
        assert!(err("postgres://bob@/db").contains("no host"));
    }

    #[test]
    fn redaction_of_odd_input() {
        assert_eq!(redact("postgres://u:p@ss@h/d"), "postgres://u:***@h/d");
        assert_eq!(redact("postgres://u:a/b@h/d"), "postgres://u:***@h/d");
        assert_eq!(redact("postgres://h/d"), "postgres://h/d");
        assert_eq!(redact("not a url"), "not a url");
        assert_eq!(
            scrub("x p%40ss y p@ss", "postgres://u:p%40ss@h"),
            "x *** y ***"
        );
    }

    #[test]
    fn tls_parameters_are_read_and_kept_from_the_client() {
        let url = PgUrl::parse(
            "postgres://u@h/d?sslmode=verify-full&connect_timeout=3&sslrootcert=%2Fetc%2Fca.pem",
        )
        .expect("parse");
        assert_eq!(
            url.tls(),
            &TlsSettings {
                mode: TlsMode::VerifyFull,
                root_cert: Some(RootCert::File("/etc/ca.pem".into())),
            }
        );
        assert_eq!(url.config().get_ssl_mode(), SslMode::Require);
        assert_eq!(
            url.config().get_connect_timeout(),
            Some(&Duration::from_secs(3))
        );
        let url = PgUrl::parse("postgres://u@h/d").expect("parse");
        assert_eq!(url.tls().mode, TlsMode::Prefer);
        assert_eq!(url.config().get_ssl_mode(), SslMode::Prefer);
        let url =
            PgUrl::parse("postgres://u@h/d?sslmode=require&sslrootcert=system").expect("parse");
        assert_eq!(url.tls().root_cert, Some(RootCert::System));
        let url = PgUrl::parse("postgres://u@h/d?sslmode=disable").expect("parse");
        assert_eq!(url.config().get_ssl_mode(), SslMode::Disable);
    }
}
