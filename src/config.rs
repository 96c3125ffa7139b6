//! Configuration: one TOML file, every key overridable from the environment,
//! parsed once into a checked [`Config`].
//!
//! The list of keys lives in [`KEYS`] and drives everything else — the
//! environment overrides, the unknown-key check, `bedside init`'s commented
//! file and the README's reference — so they cannot drift apart.
//!
//! Loading never stops at the first mistake: it collects every [`Problem`],
//! each naming the key (and where its value came from) and saying what to do,
//! so `bedside check` can list them all at once.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One configuration key: its name, environment variable, default and meaning.
#[derive(Debug)]
pub struct KeySpec {
    /// `section.name`, as written in the TOML file.
    pub key: &'static str,
    /// The environment variable that overrides it.
    pub env: &'static str,
    /// The default, written as it would appear in TOML; `None` means unset.
    pub default: Option<&'static str>,
    /// An example value for keys without a default.
    pub example: Option<&'static str>,
    /// What it is for, in a sentence or two.
    pub doc: &'static str,
}

/// Every key bedside understands. Defaults line up with docker-jitsi-meet.
pub const KEYS: &[KeySpec] = &[
    KeySpec {
        key: "server.listen",
        env: "BEDSIDE_LISTEN",
        default: Some("\"127.0.0.1:8080\""),
        example: None,
        doc: "Address and port bedside listens on (plain HTTP; put a TLS reverse proxy in front).",
    },
    KeySpec {
        key: "server.public_url",
        env: "BEDSIDE_PUBLIC_URL",
        default: Some("\"http://127.0.0.1:8080\""),
        example: None,
        doc: "The address families and staff reach bedside at; used for links in pages and mails.",
    },
    KeySpec {
        key: "server.data_dir",
        env: "BEDSIDE_DATA_DIR",
        default: Some("\"./bedside-data\""),
        example: None,
        doc: "Directory for the database (bedside.db) and generated secrets. Created if missing. \
              Relative paths are taken from the working directory. Keep it on a local, encrypted disk.",
    },
    KeySpec {
        key: "server.shutdown_grace",
        env: "BEDSIDE_SHUTDOWN_GRACE",
        default: Some("\"5s\""),
        example: None,
        doc: "On SIGTERM or Ctrl-C, how long requests in flight may take to finish (1s to 60s).",
    },
    KeySpec {
        key: "server.client_ip_header",
        env: "BEDSIDE_CLIENT_IP_HEADER",
        default: None,
        example: Some("\"X-Forwarded-For\""),
        doc: "Behind a reverse proxy: the header that carries the client's address (X-Forwarded-For \
              or X-Real-IP; the last address in it is used). Code guessing is limited per address, so \
              without it every family behind the proxy shares one limit. Set it only when a proxy \
              you run sets the header. Default: none (the connection's address).",
    },
    KeySpec {
        key: "jitsi.public_url",
        env: "BEDSIDE_JITSI_PUBLIC_URL",
        default: Some("\"https://localhost:8443\""),
        example: None,
        doc: "The address of your Jitsi Meet web front end; join links point here \
              (docker-jitsi-meet: PUBLIC_URL).",
    },
    KeySpec {
        key: "jitsi.xmpp_domain",
        env: "BEDSIDE_JITSI_XMPP_DOMAIN",
        default: Some("\"meet.jitsi\""),
        example: None,
        doc: "Prosody's XMPP domain, put in the token's `sub` claim when no tenant is set \
              (docker-jitsi-meet: XMPP_DOMAIN; not the public host name).",
    },
    KeySpec {
        key: "jitsi.tenant",
        env: "BEDSIDE_JITSI_TENANT",
        default: None,
        example: Some("\"hospital\""),
        doc: "Jitsi tenant, if rooms live under https://<jitsi>/<tenant>/<room>. \
              When set it is the token's `sub` claim. Default: none.",
    },
    KeySpec {
        key: "jitsi.app_id",
        env: "BEDSIDE_JITSI_APP_ID",
        default: Some("\"bedside\""),
        example: None,
        doc: "The token's `iss` claim; must equal Prosody's app_id (docker-jitsi-meet: JWT_APP_ID), \
              or be listed in JWT_ACCEPTED_ISSUERS.",
    },
    KeySpec {
        key: "jitsi.audience",
        env: "BEDSIDE_JITSI_AUDIENCE",
        default: Some("\"jitsi\""),
        example: None,
        doc: "The token's `aud` claim; must be accepted by Prosody (docker-jitsi-meet: \
              JWT_ACCEPTED_AUDIENCES, e.g. jitsi).",
    },
    KeySpec {
        key: "jitsi.app_secret_file",
        env: "BEDSIDE_JITSI_APP_SECRET_FILE",
        default: Some("\"<data_dir>/jitsi-app-secret\""),
        example: None,
        doc: "File holding the shared HMAC secret (docker-jitsi-meet: JWT_APP_SECRET). Its raw \
              bytes are the key; a trailing newline is ignored; at least 32 bytes (48 for HS384, \
              64 for HS512). Under the default path bedside generates one on first start (mode 0600). \
              Point it at a systemd credential or container secret to manage it yourself.",
    },
    KeySpec {
        key: "jitsi.algorithm",
        env: "BEDSIDE_JITSI_ALGORITHM",
        default: Some("\"HS256\""),
        example: None,
        doc: "Token signature algorithm; must equal Prosody's (docker-jitsi-meet: JWT_SIGN_TYPE). \
              HS256, HS384 or HS512 sign with app_secret_file; RS256, RS384 or RS512 (public-key \
              \"ASAP\" mode) sign with the current key in key_dir, and Prosody fetches the public \
              key from <server.public_url>/asap (JWT_ASAP_KEYSERVER).",
    },
    KeySpec {
        key: "jitsi.key_dir",
        env: "BEDSIDE_JITSI_KEY_DIR",
        default: Some("\"<data_dir>/jitsi-keys\""),
        example: None,
        doc: "RS* only: the directory of RSA signing keys (`bedside keys generate` adds one and \
              makes it current; the first start creates one). The private key of the current key \
              only; public keys of retired keys stay until every token they signed has expired.",
    },
    KeySpec {
        key: "smtp.host",
        env: "BEDSIDE_SMTP_HOST",
        default: None,
        example: Some("\"smtp.hospital.example.org\""),
        doc: "The SMTP relay that sends bedside's mail. Default: none — every mail is written as \
              an .eml file into <data_dir>/mail/ instead (for trying bedside out).",
    },
    KeySpec {
        key: "smtp.port",
        env: "BEDSIDE_SMTP_PORT",
        default: None,
        example: Some("587"),
        doc: "The relay's port. Default: 465 for implicit TLS, 587 for starttls, 25 for none.",
    },
    KeySpec {
        key: "smtp.tls",
        env: "BEDSIDE_SMTP_TLS",
        default: Some("\"starttls\""),
        example: None,
        doc: "implicit (TLS from the first byte, port 465), starttls (port 587), or none (plain \
              text; only allowed to a relay on this machine: localhost, 127.0.0.1, ::1).",
    },
    KeySpec {
        key: "smtp.username",
        env: "BEDSIDE_SMTP_USERNAME",
        default: None,
        example: Some("\"bedside\""),
        doc: "User name for the relay, if it wants one (then set smtp.password_file too).",
    },
    KeySpec {
        key: "smtp.password_file",
        env: "BEDSIDE_SMTP_PASSWORD_FILE",
        default: None,
        example: Some("\"/run/credentials/bedside.service/smtp-password\""),
        doc: "File holding the relay password (a trailing newline is ignored).",
    },
    KeySpec {
        key: "mail.from_address",
        env: "BEDSIDE_MAIL_FROM_ADDRESS",
        default: Some("\"bedside@localhost\""),
        example: None,
        doc: "The sender address of every mail, e.g. videovisits@hospital.example.org.",
    },
    KeySpec {
        key: "mail.from_name",
        env: "BEDSIDE_MAIL_FROM_NAME",
        default: Some("\"Video visits\""),
        example: None,
        doc: "The sender name families see.",
    },
    KeySpec {
        key: "mail.hospital_name",
        env: "BEDSIDE_MAIL_HOSPITAL_NAME",
        default: Some("\"The hospital\""),
        example: None,
        doc: "The hospital's name, at the end of every mail.",
    },
    KeySpec {
        key: "mail.contact_line",
        env: "BEDSIDE_MAIL_CONTACT_LINE",
        default: Some("\"\""),
        example: None,
        doc: "How families reach the ward with questions, e.g. \"Call the ward on +31 20 555 0100\". \
              Empty: the line is left out.",
    },
    KeySpec {
        key: "mail.template_dir",
        env: "BEDSIDE_MAIL_TEMPLATE_DIR",
        default: None,
        example: Some("\"/etc/bedside/mail\""),
        doc: "A directory of mail templates that replace the built-in ones file by file \
              (confirmation.txt, confirmation.html, reminder.txt, … — see the README).",
    },
    KeySpec {
        key: "mail.reminder_before",
        env: "BEDSIDE_MAIL_REMINDER_BEFORE",
        default: Some("\"60m\""),
        example: None,
        doc: "How long before a visit the reminder is sent (5m to 48h).",
    },
    KeySpec {
        key: "mail.retry_first",
        env: "BEDSIDE_MAIL_RETRY_FIRST",
        default: Some("\"1m\""),
        example: None,
        doc: "After a temporary SMTP failure, the first retry waits this long; each next one \
              twice as long (10s to 1h).",
    },
    KeySpec {
        key: "mail.retry_max",
        env: "BEDSIDE_MAIL_RETRY_MAX",
        default: Some("\"30m\""),
        example: None,
        doc: "The longest wait between two retries (1m to 24h).",
    },
    KeySpec {
        key: "mail.give_up_after",
        env: "BEDSIDE_MAIL_GIVE_UP_AFTER",
        default: Some("\"96h\""),
        example: None,
        doc: "A mail still not accepted this long after it was written is marked failed \
              (1h to 168h; RFC 5321 suggests 4 to 5 days).",
    },
    KeySpec {
        key: "mail.poll_interval",
        env: "BEDSIDE_MAIL_POLL_INTERVAL",
        default: Some("\"15s\""),
        example: None,
        doc: "How often the sender looks for mail that has become due (1s to 5m). New mail is \
              sent at once regardless.",
    },
    KeySpec {
        key: "staff.session_idle",
        env: "BEDSIDE_STAFF_SESSION_IDLE",
        default: Some("\"30m\""),
        example: None,
        doc: "A staff session ends after this long without use (5m to 12h).",
    },
    KeySpec {
        key: "staff.session_max",
        env: "BEDSIDE_STAFF_SESSION_MAX",
        default: Some("\"12h\""),
        example: None,
        doc: "A staff session ends this long after login, used or not (1h to 24h): one shift.",
    },
    KeySpec {
        key: "retention.booking_days",
        env: "BEDSIDE_RETENTION_BOOKING_DAYS",
        default: Some("14"),
        example: None,
        doc: "Days after a visit's end that its booking, visit link, mail and (when no other \
              booking needs it) the family's contact details are kept (1 to 365). From then on \
              they are gone from every page and API, and the purge deletes them.",
    },
    KeySpec {
        key: "retention.patient_days",
        env: "BEDSIDE_RETENTION_PATIENT_DAYS",
        default: Some("7"),
        example: None,
        doc: "Days after discharge that a patient's label and invite are kept (1 to 365); \
              longer while a booking of theirs is still kept. Patients on a ward are kept.",
    },
    KeySpec {
        key: "retention.mail_days",
        env: "BEDSIDE_RETENTION_MAIL_DAYS",
        default: Some("7"),
        example: None,
        doc: "Days that the record of a sent, failed or dropped mail is kept (1 to 90).",
    },
    KeySpec {
        key: "retention.audit_days",
        env: "BEDSIDE_RETENTION_AUDIT_DAYS",
        default: Some("365"),
        example: None,
        doc: "Days that audit trail entries are kept (30 to 3650). Per-ward daily counts hold \
              no persons and are kept for good.",
    },
    KeySpec {
        key: "retention.purge_schedule",
        env: "BEDSIDE_RETENTION_PURGE_SCHEDULE",
        default: Some("\"0 */15 * * * *\""),
        example: None,
        doc: "When the purge runs, in UTC, as six cron fields: second minute hour day-of-month \
              month day-of-week. The default is every 15 minutes. It must run at least once a \
              day and at most once a minute. A purge missed while bedside was down runs within \
              a minute of the next start.",
    },
    KeySpec {
        key: "retention.vacuum_schedule",
        env: "BEDSIDE_RETENTION_VACUUM_SCHEDULE",
        default: Some("\"\""),
        example: None,
        doc: "When to rebuild the database file with VACUUM so it shrinks after purges, in UTC, \
              as six cron fields like purge_schedule, e.g. \"0 30 3 * * Sun\" (Sundays 03:30). \
              At most once an hour; never during a purge. Empty: never (secure_delete already \
              overwrites deleted data; VACUUM only gives the space back).",
    },
    KeySpec {
        key: "privacy.contact",
        env: "BEDSIDE_PRIVACY_CONTACT",
        default: Some("\"\""),
        example: None,
        doc: "Who families and staff contact about their personal data, shown on the privacy page \
              and in `bedside privacy record`, e.g. \"the data protection officer, privacy@hospital.example.org\". \
              Empty: that sentence is left out.",
    },
];

/// Environment variables bedside reads that are not configuration keys.
pub const OTHER_ENV: &[&str] = &["BEDSIDE_CONFIG", "BEDSIDE_LOG", "BEDSIDE_LOG_FORMAT"];

/// The name of the database file inside `server.data_dir`.
pub const DB_FILE: &str = "bedside.db";
/// The name of the generated secret file inside `server.data_dir`.
pub const SECRET_FILE: &str = "jitsi-app-secret";

/// The RS* key directory in the data directory, unless configured.
pub const KEY_DIR: &str = "jitsi-keys";

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub jitsi: JitsiConfig,
    pub staff: StaffConfig,
    pub mail: MailConfig,
    pub retention: RetentionConfig,
    pub privacy: PrivacyConfig,
}

/// What the privacy statement needs beyond the other sections.
#[derive(Debug, Clone)]
pub struct PrivacyConfig {
    /// The hospital's privacy contact; empty when not configured.
    pub contact: String,
}

/// How long personal data is kept, and when the purge runs.
#[derive(Debug, Clone)]
pub struct RetentionConfig {
    pub booking_days: u32,
    pub patient_days: u32,
    pub mail_days: u32,
    pub audit_days: u32,
    /// Six cron fields with seconds, in UTC, as tokio-cron-scheduler reads them.
    pub purge_schedule: String,
    /// The longest gap between two runs of the schedule: "one interval" when
    /// deciding whether a purge is overdue.
    pub purge_interval: Duration,
    /// When `VACUUM` runs (six cron fields, UTC); `None`: never.
    pub vacuum_schedule: Option<String>,
}

impl RetentionConfig {
    /// The limits no configuration can go beyond, in days: (key, min, max).
    /// At least a day, so a visit that just ended is never gone before the
    /// family has read its mail; the audit trail a month at least, for
    /// looking into a complaint.
    pub const DAYS: [(&'static str, u32, u32); 4] = [
        ("retention.booking_days", 1, 365),
        ("retention.patient_days", 1, 365),
        ("retention.mail_days", 1, 90),
        ("retention.audit_days", 30, 3650),
    ];

    /// Seconds in `days`.
    pub fn secs(days: u32) -> i64 {
        i64::from(days) * 86_400
    }
}

/// How mail leaves bedside.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `None`: no relay; mails are written as files into `<data_dir>/mail/`.
    pub smtp: Option<SmtpConfig>,
    pub from_address: String,
    pub from_name: String,
    pub hospital_name: String,
    pub contact_line: String,
    pub template_dir: Option<PathBuf>,
    pub reminder_before: Duration,
    pub retry_first: Duration,
    pub retry_max: Duration,
    pub give_up_after: Duration,
    pub poll_interval: Duration,
}

#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// User name and password, when the relay wants them.
    pub credentials: Option<(String, String)>,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|(u, _)| (u, "***")),
            )
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    Implicit,
    StartTls,
    None,
}

#[derive(Debug, Clone)]
pub struct StaffConfig {
    pub session_idle: Duration,
    pub session_max: Duration,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Without a trailing slash.
    pub public_url: String,
    pub data_dir: PathBuf,
    pub shutdown_grace: Duration,
    /// Lower-case header name, when a proxy reports the client address.
    pub client_ip_header: Option<http::HeaderName>,
}

#[derive(Debug, Clone)]
pub struct JitsiConfig {
    /// Without a trailing slash.
    pub public_url: String,
    pub xmpp_domain: String,
    pub tenant: Option<String>,
    pub app_id: String,
    pub audience: String,
    pub app_secret_file: PathBuf,
    /// True when `app_secret_file` was not configured: bedside may then create it.
    pub app_secret_generated: bool,
    pub algorithm: Algorithm,
    /// RS* signing keys (see `jitsi::keyring`).
    pub key_dir: PathBuf,
}

/// The token signature algorithms bedside can mint with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
}

impl Algorithm {
    /// The shortest key RFC 7518 §3.2 allows: at least the hash output size.
    pub fn min_secret_len(self) -> usize {
        match self {
            Algorithm::HS256 | Algorithm::RS256 => 32,
            Algorithm::HS384 | Algorithm::RS384 => 48,
            Algorithm::HS512 | Algorithm::RS512 => 64,
        }
    }

    /// Public-key ("ASAP") mode: signed with an RSA key, checked by Prosody
    /// with the public key it fetches from bedside.
    pub fn is_public_key(self) -> bool {
        matches!(self, Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::HS512 => "HS512",
        }
    }
}

/// One thing wrong with the configuration, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key, with where its value came from, e.g. `server.listen (env BEDSIDE_LISTEN)`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Everything wrong with a configuration.
#[derive(Debug, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the configuration has {} problem(s):", self.0.len())?;
        for p in &self.0 {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

/// The environment variables starting with `BEDSIDE_`, taken once.
pub type Env = BTreeMap<String, String>;

/// Reads the `BEDSIDE_*` variables of this process.
pub fn process_env() -> Env {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| k.starts_with("BEDSIDE_"))
        .collect()
}

/// Where a value came from, for messages.
#[derive(Debug, Clone)]
enum Origin {
    File,
    Env(&'static str),
}

/// The raw, still unchecked string values, by key.
struct Raw {
    values: BTreeMap<&'static str, (String, Origin)>,
    problems: Vec<Problem>,
}

impl Raw {
    fn label(&self, key: &'static str) -> String {
        match self.values.get(key) {
            Some((_, Origin::Env(var))) => format!("{key} (env {var})"),
            _ => key.to_string(),
        }
    }

    fn get(&self, key: &'static str) -> Option<&str> {
        self.values.get(key).map(|(v, _)| v.as_str())
    }

    /// The configured value or the default, run through `parse`. A failure is
    /// recorded as a problem and `None` returned, so checking goes on.
    fn take<T>(
        &mut self,
        key: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let value = match self.get(key) {
            Some(v) => v.to_string(),
            None => default_of(key).to_string(),
        };
        match parse(&value) {
            Ok(v) => Some(v),
            Err(message) => {
                let key = self.label(key);
                self.problems.push(Problem { key, message });
                None
            }
        }
    }
}

fn spec(key: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.key == key)
}

/// The default of a key as a plain string (TOML quotes removed).
fn default_of(key: &str) -> &'static str {
    spec(key)
        .and_then(|s| s.default)
        .map(|d| d.trim_matches('"'))
        .unwrap_or("")
}

impl Config {
    /// Loads the configuration from an optional TOML file and the environment.
    ///
    /// Environment variables win over the file; an empty variable counts as
    /// unset (docker `.env` files often carry `NAME=`).
    pub fn load(file: Option<&Path>, env: &Env) -> Result<Config, Problems> {
        let mut raw = Raw {
            values: BTreeMap::new(),
            problems: Vec::new(),
        };
        if let Some(path) = file {
            read_file(path, &mut raw);
        }
        for (var, value) in env {
            if value.is_empty() || OTHER_ENV.contains(&var.as_str()) {
                continue;
            }
            match KEYS.iter().find(|k| k.env == var) {
                Some(k) => {
                    raw.values
                        .insert(k.key, (value.clone(), Origin::Env(k.env)));
                }
                None => raw.problems.push(Problem {
                    key: var.clone(),
                    message: format!(
                        "is not a bedside setting; unset it or use one of: {}",
                        KEYS.iter()
                            .map(|k| k.env)
                            .chain(OTHER_ENV.iter().copied())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }),
            }
        }
        let config = check(&mut raw);
        match config {
            Some(c) if raw.problems.is_empty() => Ok(c),
            _ => Err(Problems(raw.problems)),
        }
    }

    /// The SQLite database file.
    pub fn db_path(&self) -> PathBuf {
        self.server.data_dir.join(DB_FILE)
    }
}

fn read_file(path: &Path, raw: &mut Raw) {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            raw.problems.push(Problem {
                key: "config".into(),
                message: format!(
                    "cannot read {}: {e}; check the path given with --config or BEDSIDE_CONFIG \
                     (`bedside init` writes a commented example)",
                    path.display()
                ),
            });
            return;
        }
    };
    let table: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            raw.problems.push(Problem {
                key: "config".into(),
                message: format!(
                    "{} is not valid TOML: {}",
                    path.display(),
                    e.message().trim()
                ),
            });
            return;
        }
    };
    for (section, value) in table {
        let Some(entries) = value.as_table() else {
            raw.problems.push(unknown_key(&section));
            continue;
        };
        for (name, value) in entries {
            let full = format!("{section}.{name}");
            let Some(spec) = spec(&full) else {
                raw.problems.push(unknown_key(&full));
                continue;
            };
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => {
                    raw.problems.push(Problem {
                        key: full,
                        message: "must be a single value such as a string, not a table or list"
                            .into(),
                    });
                    continue;
                }
            };
            raw.values.insert(spec.key, (text, Origin::File));
        }
    }
}

fn unknown_key(key: &str) -> Problem {
    let section = key.split('.').next().unwrap_or(key);
    let known: Vec<&str> = KEYS
        .iter()
        .filter(|k| k.key.starts_with(&format!("{section}.")))
        .map(|k| k.key)
        .collect();
    let message = if known.is_empty() {
        let sections: std::collections::BTreeSet<&str> = KEYS
            .iter()
            .filter_map(|k| k.key.split('.').next())
            .collect();
        format!(
            "unknown key; bedside's sections are [{}] (see `bedside init`)",
            sections.into_iter().collect::<Vec<_>>().join("], [")
        )
    } else {
        format!(
            "unknown key; remove it or use one of: {} (see `bedside init`)",
            known.join(", ")
        )
    };
    Problem {
        key: key.to_string(),
        message,
    }
}

fn check(raw: &mut Raw) -> Option<Config> {
    let listen = raw.take("server.listen", |v| {
        v.parse::<SocketAddr>().map_err(|_| {
            format!("'{v}' is not an IP address and port; write e.g. \"127.0.0.1:8080\" or \"0.0.0.0:8080\"")
        })
    });
    let public_url = raw.take("server.public_url", |v| parse_url(v, false));
    let data_dir = raw.take("server.data_dir", |v| {
        if v.trim().is_empty() {
            Err("is empty; give a directory such as \"/var/lib/bedside\"".into())
        } else {
            Ok(PathBuf::from(v))
        }
    });
    let shutdown_grace = raw.take("server.shutdown_grace", |v| {
        parse_duration(v, Duration::from_secs(1), Duration::from_secs(60))
    });
    let client_ip_header = match raw.get("server.client_ip_header") {
        None => Some(None),
        Some(_) => raw.take("server.client_ip_header", |v| {
            http::HeaderName::from_bytes(v.trim().to_ascii_lowercase().as_bytes())
                .map(Some)
                .map_err(|_| format!("'{v}' is not a header name; write e.g. \"X-Forwarded-For\""))
        }),
    };
    let jitsi_url = raw.take("jitsi.public_url", |v| parse_url(v, true));
    let xmpp_domain = raw.take("jitsi.xmpp_domain", parse_domain);
    let tenant = match raw.get("jitsi.tenant") {
        None => Some(None),
        Some(_) => raw.take("jitsi.tenant", |v| parse_tenant(v).map(Some)),
    };
    let app_id = raw.take("jitsi.app_id", |v| parse_claim_text(v, "JWT_APP_ID"));
    let audience = raw.take("jitsi.audience", |v| {
        parse_claim_text(v, "JWT_ACCEPTED_AUDIENCES")
    });
    let algorithm = raw.take("jitsi.algorithm", parse_algorithm);
    let mail = check_mail(raw);
    let session_idle = raw.take("staff.session_idle", |v| {
        parse_duration(
            v,
            Duration::from_secs(5 * 60),
            Duration::from_secs(12 * 3600),
        )
    });
    let session_max = raw.take("staff.session_max", |v| {
        parse_duration(v, Duration::from_secs(3600), Duration::from_secs(24 * 3600))
    });
    let retention = check_retention(raw);
    let privacy_contact = raw.take("privacy.contact", |v| {
        if v.chars().any(char::is_control) {
            Err("must be one line".into())
        } else {
            Ok(v.trim().to_string())
        }
    });

    let data_dir = data_dir?;
    let (app_secret_file, app_secret_generated) = match raw.get("jitsi.app_secret_file") {
        Some(v) if !v.trim().is_empty() => (PathBuf::from(v), false),
        Some(_) => {
            let key = raw.label("jitsi.app_secret_file");
            raw.problems.push(Problem {
                key,
                message: "is empty; give the path of the secret file, or remove the key to let \
                          bedside generate one in the data directory"
                    .into(),
            });
            return None;
        }
        None => (data_dir.join(SECRET_FILE), true),
    };
    let key_dir = match raw.get("jitsi.key_dir") {
        Some(v) if !v.trim().is_empty() => PathBuf::from(v),
        _ => data_dir.join(KEY_DIR),
    };

    Some(Config {
        server: ServerConfig {
            listen: listen?,
            public_url: public_url?,
            data_dir,
            shutdown_grace: shutdown_grace?,
            client_ip_header: client_ip_header?,
        },
        jitsi: JitsiConfig {
            public_url: jitsi_url?,
            xmpp_domain: xmpp_domain?,
            tenant: tenant?,
            app_id: app_id?,
            audience: audience?,
            app_secret_file,
            app_secret_generated,
            algorithm: algorithm?,
            key_dir,
        },
        staff: StaffConfig {
            session_idle: session_idle?,
            session_max: session_max?,
        },
        mail: mail?,
        retention: retention?,
        privacy: PrivacyConfig {
            contact: privacy_contact?,
        },
    })
}

fn check_retention(raw: &mut Raw) -> Option<RetentionConfig> {
    let [booking, patient, mail, audit] = RetentionConfig::DAYS.map(|(key, min, max)| {
        raw.take(key, |v| {
            v.trim()
                .parse::<u32>()
                .ok()
                .filter(|d| (min..=max).contains(d))
                .ok_or_else(|| {
                    format!(
                        "'{v}' is not a number of days from {min} to {max}; write e.g. {}",
                        default_of(key)
                    )
                })
        })
    });
    let schedule = raw.take("retention.purge_schedule", parse_schedule);
    let vacuum_schedule = raw.take("retention.vacuum_schedule", parse_vacuum_schedule);
    let (purge_schedule, purge_interval) = schedule?;
    Some(RetentionConfig {
        booking_days: booking?,
        patient_days: patient?,
        mail_days: mail?,
        audit_days: audit?,
        purge_schedule,
        purge_interval,
        vacuum_schedule: vacuum_schedule?,
    })
}

/// Checks a vacuum schedule like a purge schedule (six fields, as
/// tokio-cron-scheduler reads them), but any gap is allowed as long as it
/// runs at most once an hour: `VACUUM` rewrites the whole file. Empty is off.
pub fn parse_vacuum_schedule(v: &str) -> Result<Option<String>, String> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let example = "write e.g. \"0 30 3 * * Sun\" (Sundays 03:30 UTC), or \"\" for never";
    let runs = schedule_runs(v, example)?;
    if runs.is_empty() {
        return Err(format!("'{v}' never runs (again); {example}"));
    }
    if runs.windows(2).any(|w| w[1] - w[0] < 3600) {
        return Err(format!(
            "'{v}' runs more than once an hour; VACUUM rewrites the whole database, so run it \
             rarely; {example}"
        ));
    }
    Ok(Some(v.to_string()))
}

/// How many runs of a schedule are looked at to find its interval: enough
/// to see a weekly pattern through, or two months of a daily one.
const SCHEDULE_SAMPLE: usize = 64;

/// The next [`SCHEDULE_SAMPLE`] runs (Unix seconds) of a six-field cron
/// schedule, parsed exactly as tokio-cron-scheduler parses it (seconds
/// first, day-of-month and day-of-week both applying); `example` ends the
/// error message.
fn schedule_runs(v: &str, example: &str) -> Result<Vec<i64>, String> {
    if v.split_whitespace().count() != 6 {
        return Err(format!(
            "'{v}' is not six cron fields (second minute hour day-of-month month day-of-week); \
             {example}"
        ));
    }
    let cron = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(v)
        .map_err(|e| format!("'{v}' is not a cron schedule ({e}); {example}"))?;
    let start =
        chrono::DateTime::from_timestamp(jiff::Timestamp::now().as_second(), 0).unwrap_or_default();
    Ok(cron
        .iter_after(start)
        .take(SCHEDULE_SAMPLE)
        .map(|t| t.timestamp())
        .collect())
}

/// Checks a purge schedule exactly as tokio-cron-scheduler parses it (six
/// fields, seconds first, day-of-month and day-of-week both applying) and
/// returns it with its longest gap between two runs.
pub fn parse_schedule(v: &str) -> Result<(String, Duration), String> {
    let v = v.trim();
    let example = "write e.g. \"0 */15 * * * *\" (every 15 minutes) or \"0 30 * * * *\" (hourly)";
    let runs = schedule_runs(v, example)?;
    let gaps: Vec<i64> = runs.windows(2).map(|w| w[1] - w[0]).collect();
    let (Some(&shortest), Some(&longest)) = (gaps.iter().min(), gaps.iter().max()) else {
        return Err(format!("'{v}' never runs (again); {example}"));
    };
    if shortest < 60 {
        return Err(format!(
            "'{v}' runs more than once a minute (the first field is seconds); {example}"
        ));
    }
    if longest > 24 * 3600 {
        return Err(format!(
            "'{v}' leaves up to {:#} between runs; purge at least once a day so data does not \
             outlive its retention by long; {example}",
            jiff::SignedDuration::from_secs(longest)
        ));
    }
    Ok((v.to_string(), Duration::from_secs(longest as u64)))
}

fn optional(raw: &Raw, key: &'static str) -> Option<String> {
    raw.get(key)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

fn check_mail(raw: &mut Raw) -> Option<MailConfig> {
    let hours = |h: u64| Duration::from_secs(h * 3600);
    let mins = |m: u64| Duration::from_secs(m * 60);
    let reminder_before = raw.take("mail.reminder_before", |v| {
        parse_duration(v, mins(5), hours(48))
    });
    let retry_first = raw.take("mail.retry_first", |v| {
        parse_duration(v, Duration::from_secs(10), hours(1))
    });
    let retry_max = raw.take("mail.retry_max", |v| parse_duration(v, mins(1), hours(24)));
    let give_up_after = raw.take("mail.give_up_after", |v| {
        parse_duration(v, hours(1), hours(168))
    });
    let poll_interval = raw.take("mail.poll_interval", |v| {
        parse_duration(v, Duration::from_secs(1), mins(5))
    });
    let from_address = raw.take("mail.from_address", |v| {
        let options = email_address::Options::default().without_display_text();
        email_address::EmailAddress::parse_with_options(v.trim(), options)
            .map(|_| v.trim().to_string())
            .map_err(|_| format!("'{v}' is not an e-mail address; write e.g. \"videovisits@hospital.example.org\""))
    });
    let text = |v: &str| -> Result<String, String> {
        if v.chars().any(char::is_control) {
            Err("must be one line".into())
        } else {
            Ok(v.trim().to_string())
        }
    };
    let from_name = raw.take("mail.from_name", text);
    let hospital_name = raw.take("mail.hospital_name", text);
    let contact_line = raw.take("mail.contact_line", text);
    let template_dir = match optional(raw, "mail.template_dir") {
        None => Some(None),
        Some(_) => raw.take("mail.template_dir", |v| {
            let p = PathBuf::from(v.trim());
            if p.is_dir() {
                Ok(Some(p))
            } else {
                Err(format!("{v} is not a directory; create it or remove the key to use the built-in templates"))
            }
        }),
    };
    let smtp = check_smtp(raw);
    if let (Some(first), Some(max)) = (retry_first, retry_max)
        && first > max
    {
        let key = raw.label("mail.retry_first");
        raw.problems.push(Problem {
            key,
            message: "is longer than mail.retry_max; make the first wait the shorter one".into(),
        });
        return None;
    }
    Some(MailConfig {
        smtp: smtp?,
        from_address: from_address?,
        from_name: from_name?,
        hospital_name: hospital_name?,
        contact_line: contact_line?,
        template_dir: template_dir?,
        reminder_before: reminder_before?,
        retry_first: retry_first?,
        retry_max: retry_max?,
        give_up_after: give_up_after?,
        poll_interval: poll_interval?,
    })
}

/// `Some(None)` when no relay is configured, `None` when there were problems.
fn check_smtp(raw: &mut Raw) -> Option<Option<SmtpConfig>> {
    let tls = raw.take("smtp.tls", |v| match v.trim() {
        "implicit" => Ok(SmtpTls::Implicit),
        "starttls" => Ok(SmtpTls::StartTls),
        "none" => Ok(SmtpTls::None),
        _ => Err(format!(
            "'{v}' is not a choice; use implicit, starttls or none"
        )),
    })?;
    let host = match optional(raw, "smtp.host") {
        None => None,
        Some(_) => Some(raw.take("smtp.host", |v| {
            let v = v.trim();
            let ok = v.len() <= 253
                && v.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                });
            if ok {
                Ok(v.to_string())
            } else {
                Err(format!(
                    "'{v}' is not a host name or address; write e.g. \"smtp.hospital.example.org\""
                ))
            }
        })?),
    };
    let Some(host) = host else {
        for key in ["smtp.port", "smtp.username", "smtp.password_file"] {
            if optional(raw, key).is_some() {
                let label = raw.label(key);
                raw.problems.push(Problem {
                    key: label,
                    message: "is set but smtp.host is not; set smtp.host, or remove this key"
                        .into(),
                });
                return None;
            }
        }
        return Some(None);
    };
    let default_port = match tls {
        SmtpTls::Implicit => 465,
        SmtpTls::StartTls => 587,
        SmtpTls::None => 25,
    };
    let port = match optional(raw, "smtp.port") {
        None => default_port,
        Some(_) => raw.take("smtp.port", |v| {
            v.trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("'{v}' is not a port number; use e.g. 587"))
        })?,
    };
    let mismatch = match (port, tls) {
        (465, SmtpTls::StartTls | SmtpTls::None) => Some("port 465 usually means tls = implicit"),
        (587, SmtpTls::Implicit) => Some("port 587 usually means tls = starttls"),
        (25, SmtpTls::Implicit) => {
            Some("port 25 usually means tls = starttls (or none to a relay on this machine)")
        }
        _ => None,
    };
    if let Some(hint) = mismatch {
        let key = raw.label("smtp.tls");
        raw.problems.push(Problem {
            key,
            message: format!("does not fit smtp.port {port}: {hint}"),
        });
        return None;
    }
    let loopback = matches!(host.as_str(), "localhost" | "127.0.0.1" | "::1" | "[::1]");
    if tls == SmtpTls::None && !loopback {
        let key = raw.label("smtp.tls");
        raw.problems.push(Problem {
            key,
            message: format!(
                "none sends mail and password in plain text; it is only allowed to a relay on this machine, not to {host}: use starttls or implicit"
            ),
        });
        return None;
    }
    let username = optional(raw, "smtp.username");
    let password_file = optional(raw, "smtp.password_file");
    let credentials = match (username, password_file) {
        (None, None) => None,
        (Some(u), Some(file)) => match std::fs::read_to_string(&file) {
            Ok(p) => Some((u, p.trim_end_matches(['\r', '\n']).to_string())),
            Err(e) => {
                let key = raw.label("smtp.password_file");
                raw.problems.push(Problem {
                    key,
                    message: format!("cannot read {file}: {e}"),
                });
                return None;
            }
        },
        (Some(_), None) => {
            let key = raw.label("smtp.username");
            raw.problems.push(Problem {
                key,
                message: "is set without smtp.password_file; add the password file, or remove the user name".into(),
            });
            return None;
        }
        (None, Some(_)) => {
            let key = raw.label("smtp.password_file");
            raw.problems.push(Problem {
                key,
                message:
                    "is set without smtp.username; add the user name, or remove the password file"
                        .into(),
            });
            return None;
        }
    };
    Some(Some(SmtpConfig {
        host,
        port,
        tls,
        credentials,
    }))
}

/// An absolute http(s) URL without query or fragment, returned without a
/// trailing slash so paths can be appended.
fn parse_url(v: &str, jitsi: bool) -> Result<String, String> {
    let hint = if jitsi {
        "write the address of your Jitsi Meet site, e.g. \"https://meet.example.org\""
    } else {
        "write the address people reach bedside at, e.g. \"https://visits.example.org\""
    };
    let uri: http::Uri = v
        .parse()
        .map_err(|_| format!("'{v}' is not a URL; {hint}"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => {
            return Err(format!(
                "'{v}' must start with https:// (or http://); {hint}"
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("'{v}' has no host name; {hint}"));
    }
    if uri.query().is_some() || v.contains('#') {
        return Err(format!(
            "'{v}' must not have a query (?…) or fragment (#…); {hint}"
        ));
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(format!(
            "'{v}' must not carry a user name or password; {hint}"
        ));
    }
    Ok(v.trim_end_matches('/').to_string())
}

fn parse_duration(v: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let d: jiff::SignedDuration = v.trim().parse().map_err(|_| {
        format!("'{v}' is not a duration; write e.g. \"5s\", \"30m\" or \"1h 30m\"")
    })?;
    let d = Duration::try_from(d).map_err(|_| format!("'{v}' must not be negative"))?;
    if d < min || d > max {
        return Err(format!(
            "'{v}' is out of range; use between {} and {}",
            jiff::SignedDuration::try_from(min).unwrap_or_default(),
            jiff::SignedDuration::try_from(max).unwrap_or_default()
        ));
    }
    Ok(d)
}

fn parse_domain(v: &str) -> Result<String, String> {
    let ok = !v.is_empty()
        && v.len() <= 253
        && v.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    if ok {
        Ok(v.to_string())
    } else {
        Err(format!(
            "'{v}' is not a lower-case XMPP domain; use Prosody's XMPP_DOMAIN exactly, \
             e.g. \"meet.jitsi\" (docker-jitsi-meet's default)"
        ))
    }
}

fn parse_tenant(v: &str) -> Result<String, String> {
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(v.to_string())
    } else {
        Err(format!(
            "'{v}' is not a usable tenant; use lower-case letters, digits, '-' or '_' \
             (Prosody compares tenants lower-cased), or remove the key for no tenant"
        ))
    }
}

fn parse_claim_text(v: &str, jitsi_setting: &str) -> Result<String, String> {
    if v.is_empty() || v.trim() != v || v.chars().any(char::is_control) || v == "*" {
        Err(format!(
            "'{v}' cannot be used; give the exact value Jitsi has in {jitsi_setting} \
             (no surrounding spaces, not '*')"
        ))
    } else {
        Ok(v.to_string())
    }
}

fn parse_algorithm(v: &str) -> Result<Algorithm, String> {
    match v {
        "HS256" => Ok(Algorithm::HS256),
        "HS384" => Ok(Algorithm::HS384),
        "HS512" => Ok(Algorithm::HS512),
        "RS256" => Ok(Algorithm::RS256),
        "RS384" => Ok(Algorithm::RS384),
        "RS512" => Ok(Algorithm::RS512),
        _ => Err(format!(
            "'{v}' is not an algorithm Prosody accepts for bedside; use HS256, HS384 or HS512 \
             (shared secret) or RS256, RS384 or RS512 (public key), upper case, the same as \
             JWT_SIGN_TYPE"
        )),
    }
}

/// `bedside init`'s file: every key, commented out at its default, with
/// what it does and the environment variable that overrides it.
pub fn example_file() -> String {
    let mut out = String::from(
        "# bedside configuration.\n\
         #\n\
         # Every key is optional: each is shown commented out at its default.\n\
         # Uncomment and change what your site needs. Each key can also be set by\n\
         # the environment variable named above it, which wins over this file.\n\
         # Check the result with: bedside --config <this file> check\n",
    );
    let mut section = "";
    for k in KEYS {
        let (sec, name) = k.key.split_once('.').unwrap_or(("", k.key));
        if sec != section {
            out.push_str(&format!("\n[{sec}]\n"));
            section = sec;
        }
        out.push('\n');
        for line in wrap(k.doc, 76) {
            out.push_str(&format!("# {line}\n"));
        }
        out.push_str(&format!("# env: {}\n", k.env));
        match (k.default, k.example) {
            (Some(d), _) => out.push_str(&format!("#{name} = {d}\n")),
            (None, Some(e)) => out.push_str(&format!("#{name} = {e}\n")),
            (None, None) => {}
        }
    }
    // The secret default is a placeholder, not TOML anyone should uncomment as is.
    out.replace(
        "#app_secret_file = \"<data_dir>/jitsi-app-secret\"",
        "#app_secret_file = \"/run/credentials/bedside.service/jitsi-app-secret\"",
    )
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn load_toml(text: &str, vars: &[(&str, &str)]) -> Result<Config, Problems> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bedside.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(Some(&path), &env(vars))
    }

    fn problems(text: &str, vars: &[(&str, &str)]) -> Vec<Problem> {
        load_toml(text, vars)
            .expect_err("config should be refused")
            .0
    }

    #[test]
    fn defaults_match_docker_jitsi_meet() {
        let c = Config::load(None, &Env::new()).unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.server.public_url, "http://127.0.0.1:8080");
        assert_eq!(c.server.data_dir, PathBuf::from("./bedside-data"));
        assert_eq!(c.jitsi.public_url, "https://localhost:8443");
        assert_eq!(c.jitsi.xmpp_domain, "meet.jitsi");
        assert_eq!(c.jitsi.tenant, None);
        assert_eq!(c.jitsi.app_id, "bedside");
        assert_eq!(c.jitsi.audience, "jitsi");
        assert_eq!(c.jitsi.algorithm, Algorithm::HS256);
        assert_eq!(
            c.jitsi.app_secret_file,
            PathBuf::from("./bedside-data/jitsi-app-secret")
        );
        assert!(c.jitsi.app_secret_generated);
        assert_eq!(c.db_path(), PathBuf::from("./bedside-data/bedside.db"));
    }

    #[test]
    fn environment_wins_over_file() {
        let c = load_toml(
            "[server]\nlisten = \"127.0.0.1:9000\"\n[jitsi]\napp_id = \"fromfile\"\n",
            &[
                ("BEDSIDE_JITSI_APP_ID", "fromenv"),
                ("BEDSIDE_LOG", "debug"),
            ],
        )
        .unwrap();
        assert_eq!(c.server.listen.port(), 9000);
        assert_eq!(c.jitsi.app_id, "fromenv");
    }

    #[test]
    fn every_key_has_an_environment_variable_that_sets_it() {
        let paths = ["server.data_dir", "jitsi.app_secret_file", "jitsi.key_dir"];
        for k in KEYS.iter().filter(|k| !paths.contains(&k.key)) {
            assert!(k.env.starts_with("BEDSIDE_"), "{}", k.key);
            let c = Config::load(None, &env(&[(k.env, " bad\tvalue ")]));
            // These keys validate their value, so a nonsense value must be
            // refused under that key's name: proof the variable reached it.
            let p = c.expect_err(k.key).0;
            assert!(
                p.iter()
                    .any(|p| p.key == format!("{} (env {})", k.key, k.env)),
                "{}: {p:?}",
                k.key
            );
        }
        let c = Config::load(
            None,
            &env(&[
                ("BEDSIDE_DATA_DIR", "/srv/bedside"),
                ("BEDSIDE_JITSI_APP_SECRET_FILE", "/run/credentials/s"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.data_dir, PathBuf::from("/srv/bedside"));
        assert_eq!(c.jitsi.app_secret_file, PathBuf::from("/run/credentials/s"));
    }

    #[test]
    fn the_example_file_is_valid_and_names_every_key() {
        let text = example_file();
        for k in KEYS {
            let name = k.key.split_once('.').unwrap().1;
            assert!(text.contains(&format!("#{name} = ")), "{}", k.key);
            assert!(text.contains(k.env), "{}", k.key);
        }
        // As written (all commented out) it gives the defaults.
        let c = load_toml(&text, &[]).unwrap();
        assert_eq!(c.jitsi.app_id, "bedside");
        // Uncommented, every key is still valid (but those naming files
        // that only exist on a real server).
        let uncommented: String = text
            .lines()
            .filter(|l| {
                !["#password_file", "#template_dir", "#username"]
                    .iter()
                    .any(|k| l.starts_with(k))
            })
            .map(|l| match l.strip_prefix('#') {
                Some(rest) if rest.contains(" = ") => rest,
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n");
        let c = load_toml(&uncommented, &[]).unwrap();
        assert_eq!(c.jitsi.tenant.as_deref(), Some("hospital"));
        assert_eq!(
            c.server.client_ip_header.as_ref().map(|h| h.as_str()),
            Some("x-forwarded-for")
        );
        assert!(!c.jitsi.app_secret_generated);
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let p = problems(
            "[server]\nlisen = \"127.0.0.1:1\"\n[smpt]\nhost = \"x\"\n",
            &[("BEDSIDE_LISTN", "1")],
        );
        let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"server.lisen"), "{p:?}");
        assert!(keys.contains(&"smpt.host"), "{p:?}");
        assert!(keys.contains(&"BEDSIDE_LISTN"), "{p:?}");
        let lisen = p.iter().find(|p| p.key == "server.lisen").unwrap();
        assert!(lisen.message.contains("server.listen"), "{lisen}");
    }

    #[test]
    fn every_bad_value_is_reported_at_once_with_its_key() {
        let p = problems(
            "[server]\nlisten = \"localhost\"\npublic_url = \"ftp://x\"\n\
             [jitsi]\npublic_url = \"meet.example.org\"\nalgorithm = \"ES256\"\n\
             xmpp_domain = \"Meet.Jitsi\"\ntenant = \"Big Hospital\"\n",
            &[],
        );
        let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "server.listen",
                "server.public_url",
                "jitsi.public_url",
                "jitsi.xmpp_domain",
                "jitsi.tenant",
                "jitsi.algorithm"
            ]
        );
        assert!(p[0].message.contains("127.0.0.1:8080"), "{}", p[0]);
        assert!(p[5].message.contains("HS256"), "{}", p[5]);
    }

    #[test]
    fn public_key_algorithms_use_the_key_directory() {
        let c = load_toml("[jitsi]\nalgorithm = \"RS256\"\n", &[]).unwrap();
        assert_eq!(c.jitsi.algorithm, Algorithm::RS256);
        assert!(c.jitsi.algorithm.is_public_key());
        assert!(c.jitsi.key_dir.ends_with(KEY_DIR));
        let p = problems("[jitsi]\nalgorithm = \"ES256\"\n", &[]);
        assert!(p[0].message.contains("RS256"), "{}", p[0]);
    }

    #[test]
    fn malformed_toml_names_the_file_and_line() {
        let p = problems("[server\nlisten = 1\n", &[]);
        assert_eq!(p[0].key, "config");
        assert!(p[0].message.contains("not valid TOML"), "{}", p[0]);
    }

    #[test]
    fn a_missing_config_file_says_how_to_make_one() {
        let p = Config::load(Some(Path::new("/nonexistent/bedside.toml")), &Env::new())
            .unwrap_err()
            .0;
        assert!(p[0].message.contains("bedside init"), "{}", p[0]);
    }

    #[test]
    fn urls_lose_their_trailing_slash_and_need_a_host() {
        let c = load_toml(
            "[server]\npublic_url = \"https://visits.example.org/\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.server.public_url, "https://visits.example.org");
        for bad in [
            "https://",
            "https://x.example.org/?a=1",
            "https://u:p@x.example.org",
            "x",
        ] {
            let p = problems(&format!("[jitsi]\npublic_url = \"{bad}\"\n"), &[]);
            assert_eq!(p[0].key, "jitsi.public_url", "{bad}");
        }
    }

    #[test]
    fn shutdown_grace_is_bounded() {
        let c = load_toml("[server]\nshutdown_grace = \"10s\"\n", &[]).unwrap();
        assert_eq!(c.server.shutdown_grace, Duration::from_secs(10));
        for bad in ["0s", "2h", "soon", "-5s"] {
            let p = problems(&format!("[server]\nshutdown_grace = \"{bad}\"\n"), &[]);
            assert_eq!(p[0].key, "server.shutdown_grace", "{bad}");
        }
    }

    #[test]
    fn an_explicit_secret_file_is_not_generated() {
        let c = load_toml("[jitsi]\napp_secret_file = \"/run/secret\"\n", &[]).unwrap();
        assert_eq!(c.jitsi.app_secret_file, PathBuf::from("/run/secret"));
        assert!(!c.jitsi.app_secret_generated);
    }

    #[test]
    fn smtp_combinations_that_cannot_work_are_refused_with_a_hint() {
        let c = Config::load(None, &Env::new()).unwrap();
        assert!(
            c.mail.smtp.is_none(),
            "no relay by default: mail goes to files"
        );
        for (toml, key, hint) in [
            (
                "[smtp]\nhost = \"mx.example.org\"\nport = 465\n",
                "smtp.tls",
                "port 465 usually means tls = implicit",
            ),
            (
                "[smtp]\nhost = \"mx.example.org\"\nport = 587\ntls = \"implicit\"\n",
                "smtp.tls",
                "port 587 usually means tls = starttls",
            ),
            (
                "[smtp]\nhost = \"mx.example.org\"\ntls = \"none\"\n",
                "smtp.tls",
                "only allowed to a relay on this machine",
            ),
            (
                "[smtp]\nhost = \"mx.example.org\"\nusername = \"u\"\n",
                "smtp.username",
                "without smtp.password_file",
            ),
            ("[smtp]\nport = 25\n", "smtp.port", "smtp.host is not"),
            (
                "[smtp]\nhost = \"mx.example.org\"\ntls = \"ssl\"\n",
                "smtp.tls",
                "implicit, starttls or none",
            ),
            (
                "[mail]\nfrom_address = \"not an address\"\n",
                "mail.from_address",
                "not an e-mail address",
            ),
            (
                "[mail]\nretry_first = \"40m\"\n",
                "mail.retry_first",
                "longer than mail.retry_max",
            ),
        ] {
            let p = problems(toml, &[]);
            assert_eq!(p[0].key, key, "{toml}");
            assert!(p[0].message.contains(hint), "{toml}: {}", p[0]);
        }
        let c = load_toml(
            "[smtp]\nhost = \"127.0.0.1\"\nport = 2525\ntls = \"none\"\n",
            &[],
        )
        .unwrap();
        let smtp = c.mail.smtp.unwrap();
        assert_eq!((smtp.port, smtp.tls), (2525, SmtpTls::None));
        let c = load_toml(
            "[smtp]\nhost = \"mx.example.org\"\ntls = \"implicit\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.mail.smtp.unwrap().port, 465);
    }

    #[test]
    fn retention_has_defaults_and_limits_no_configuration_can_pass() {
        let c = Config::load(None, &Env::new()).unwrap();
        let r = &c.retention;
        assert_eq!(
            (r.booking_days, r.patient_days, r.mail_days, r.audit_days),
            (14, 7, 7, 365)
        );
        assert_eq!(r.purge_schedule, "0 */15 * * * *");
        assert_eq!(r.purge_interval, Duration::from_secs(15 * 60));
        for (toml, key, hint) in [
            (
                "booking_days = 0",
                "retention.booking_days",
                "from 1 to 365",
            ),
            ("booking_days = 366", "retention.booking_days", "e.g. 14"),
            ("mail_days = 91", "retention.mail_days", "from 1 to 90"),
            ("audit_days = 29", "retention.audit_days", "from 30 to 3650"),
            (
                "patient_days = \"a week\"",
                "retention.patient_days",
                "days",
            ),
            (
                "purge_schedule = \"*/15 * * * *\"",
                "retention.purge_schedule",
                "not six cron fields",
            ),
            (
                "purge_schedule = \"* */15 * * * *\"",
                "retention.purge_schedule",
                "more than once a minute (the first field is seconds)",
            ),
            (
                "purge_schedule = \"0 0 3 * * Mon\"",
                "retention.purge_schedule",
                "at least once a day",
            ),
            (
                "purge_schedule = \"0 0 0 31 2 *\"",
                "retention.purge_schedule",
                "never runs",
            ),
            (
                "purge_schedule = \"0 61 * * * *\"",
                "retention.purge_schedule",
                "not a cron schedule",
            ),
        ] {
            let p = problems(&format!("[retention]\n{toml}\n"), &[]);
            assert_eq!(p[0].key, key, "{toml}");
            assert!(p[0].message.contains(hint), "{toml}: {}", p[0]);
        }
        let c = load_toml(
            "[retention]\nbooking_days = 30\npurge_schedule = \"0 5 3 * * *\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.retention.booking_days, 30);
        assert_eq!(c.retention.purge_interval, Duration::from_secs(86_400));
    }

    #[test]
    fn wildcard_issuer_or_audience_is_refused() {
        let p = problems("[jitsi]\napp_id = \"*\"\naudience = \" jitsi\"\n", &[]);
        let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["jitsi.app_id", "jitsi.audience"]);
    }
}
