//! Handing a mail over: to the SMTP relay (mail-send, TLS by ring), or —
//! with no relay configured — as an `.eml` file in `<data_dir>/mail/`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use mail_send::SmtpClientBuilder;
use mail_send::mail_builder::MessageBuilder;
use mail_send::mail_builder::headers::content_type::ContentType;

use super::outbox::Claimed;
use crate::config::{SmtpConfig, SmtpTls};

/// Longest one SMTP exchange may take before it counts as a temporary
/// failure (connection, TLS, and every command).
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Where mail goes.
#[derive(Debug, Clone)]
pub enum Transport {
    Smtp(SmtpConfig),
    /// `.eml` files in this directory.
    Files(PathBuf),
}

/// Why a mail was not handed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Try again later: the relay was unreachable, timed out, or answered 4xx.
    Temporary(String),
    /// Do not retry: the relay answered 5xx.
    Permanent(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Temporary(m) => write!(f, "temporary failure: {m}"),
            SendError::Permanent(m) => write!(f, "permanent failure: {m}"),
        }
    }
}

/// The MIME message for a claimed row.
fn message<'a>(mail: &'a Claimed, from_name: &'a str, from_address: &'a str) -> MessageBuilder<'a> {
    let mut m = MessageBuilder::new()
        .from((from_name, from_address))
        .to(mail.recipient.as_str())
        .subject(mail.subject.as_str())
        .message_id(mail.message_id.as_str())
        .text_body(mail.text.as_str())
        .html_body(mail.html.as_str());
    if let Some((ics, method)) = &mail.ics {
        let content_type = ContentType::new("text/calendar")
            .attribute("method", method.as_str())
            .attribute("charset", "utf-8");
        m = m.attachment(content_type, "visit.ics", ics.as_bytes());
    }
    m
}

impl Transport {
    /// Hands one mail over. Returns what to record about it (the relay's
    /// reply or the file written) — never the address.
    pub async fn send(
        &self,
        mail: &Claimed,
        from_name: &str,
        from_address: &str,
    ) -> Result<String, SendError> {
        let built = message(mail, from_name, from_address);
        match self {
            Transport::Files(dir) => write_file(dir, mail, built),
            Transport::Smtp(smtp) => send_smtp(smtp, built).await,
        }
    }
}

fn write_file(
    dir: &std::path::Path,
    mail: &Claimed,
    built: MessageBuilder<'_>,
) -> Result<String, SendError> {
    let bytes = built
        .write_to_vec()
        .map_err(|e| SendError::Temporary(format!("cannot build the message: {e}")))?;
    let temporary =
        |e: std::io::Error| SendError::Temporary(format!("cannot write to {}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(temporary)?;
    let path = dir.join(format!("{:06}-{}.eml", mail.id, mail.kind));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(&path)
        .and_then(|mut f| f.write_all(&bytes).and_then(|_| f.sync_all()))
        .map_err(temporary)?;
    Ok(format!("written to {}", path.display()))
}

async fn send_smtp(smtp: &SmtpConfig, built: MessageBuilder<'_>) -> Result<String, SendError> {
    let mut builder = SmtpClientBuilder::new(smtp.host.as_str(), smtp.port)
        .map_err(|e| SendError::Temporary(format!("TLS set-up failed: {e}")))?
        .implicit_tls(smtp.tls == SmtpTls::Implicit)
        .timeout(SMTP_TIMEOUT);
    if let Some((user, password)) = &smtp.credentials {
        builder = builder.credentials((user.as_str(), password.as_str()));
    }
    let reply = match smtp.tls {
        SmtpTls::None => match builder.connect_plain().await {
            Ok(mut client) => {
                let r = client.send(built).await;
                let _ = client.quit().await;
                r
            }
            Err(e) => Err(e),
        },
        _ => match builder.connect().await {
            Ok(mut client) => {
                let r = client.send(built).await;
                let _ = client.quit().await;
                r
            }
            Err(e) => Err(e),
        },
    };
    match reply {
        Ok(r) => Ok(format!("accepted: {} {}", r.code, r.message.trim())),
        Err(e) => Err(classify(e)),
    }
}

/// RFC 5321 §4.2.1: 5xx replies are permanent, 4xx temporary; anything
/// that is not a reply (refused connection, timeout, TLS) is temporary.
fn classify(e: mail_send::Error) -> SendError {
    use mail_send::Error as E;
    match e {
        E::UnexpectedReply(r) | E::AuthenticationFailed(r) => {
            let text = format!("{} {}", r.code, r.message.trim());
            if (500..600).contains(&r.code) {
                SendError::Permanent(text)
            } else {
                SendError::Temporary(text)
            }
        }
        E::MissingCredentials
        | E::UnsupportedAuthMechanism
        | E::MissingMailFrom
        | E::MissingRcptTo => SendError::Permanent(e.to_string()),
        other => SendError::Temporary(other.to_string()),
    }
}
