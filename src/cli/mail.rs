//! `bedside mail test|queue`: check the relay, and see (and retry) what is
//! waiting in the outbox.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;

use super::{db, load_config};
use crate::mail::outbox;
use crate::mail::transport::{SendError, Transport};

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Send one test mail now, straight to the relay, and explain what went wrong.
    Test {
        /// Where to send it, e.g. your own address.
        #[arg(long)]
        to: String,
    },
    /// Counts of pending, sent, failed and stale mail; failed mail with the relay's reply.
    Queue {
        /// Put this failed mail back in the queue (after fixing its cause).
        #[arg(long, value_name = "ID")]
        retry: Option<i64>,
    },
}

pub fn run(config_file: Option<&Path>, command: MailCommand) -> ExitCode {
    match command {
        MailCommand::Test { to } => test(config_file, &to),
        MailCommand::Queue { retry } => queue(config_file, retry),
    }
}

fn test(config_file: Option<&Path>, to: &str) -> ExitCode {
    let config = match load_config(config_file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mailer = match crate::mail::Mailer::new(&config) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let where_to = match &mailer.transport {
        Transport::Smtp(s) => format!("the relay {}:{} ({:?})", s.host, s.port, s.tls),
        Transport::Files(dir) => format!("a file in {} (no smtp.host is set)", dir.display()),
    };
    eprintln!("sending a test mail through {where_to} …");
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(mailer.send_test(to, &config.mail.from_name)) {
        Ok(note) => {
            println!("sent: {note}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("hint: {}", explain(&e));
            ExitCode::FAILURE
        }
    }
}

/// What an operator can do about a failure.
fn explain(e: &SendError) -> &'static str {
    let text = match e {
        SendError::Temporary(t) | SendError::Permanent(t) => t.to_ascii_lowercase(),
    };
    if text.contains("connection refused") {
        "nothing listens at smtp.host:smtp.port; check both, and that a firewall lets bedside out"
    } else if text.contains("timed out") || text.contains("timeout") {
        "the relay did not answer in time; check smtp.host and smtp.port, and the network between"
    } else if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
        "TLS failed: port 465 wants smtp.tls = implicit, 587 and 25 want starttls; and the relay's certificate must be valid for smtp.host"
    } else if text.starts_with("535") || text.contains("auth") {
        "the relay refused the login: check smtp.username and the password in smtp.password_file"
    } else if text.starts_with("550") || text.starts_with("553") || text.starts_with("554") {
        "the relay refused the sender or recipient: check mail.from_address is allowed to send through it"
    } else if matches!(e, SendError::Temporary(_)) {
        "a temporary failure: bedside retries such mail by itself; try again in a while"
    } else {
        "the relay refused the mail; its reply above says why"
    }
}

fn queue(config_file: Option<&Path>, retry: Option<i64>) -> ExitCode {
    let missing = "no such mail in the outbox";
    let result = db::write(config_file, missing, |_, tx| {
        let retried = match retry {
            Some(id) => Some(outbox::retry_failed(tx, id, db::now())?),
            None => None,
        };
        Ok((retried, outbox::counts(tx)?, outbox::failed(tx, 50)?))
    });
    let (_, (retried, counts, failed)) = match result {
        Ok(r) => r,
        Err(code) => return code,
    };
    if let (Some(id), Some(done)) = (retry, retried) {
        if done {
            println!(
                "mail {id} is queued again; the running server sends it within mail.poll_interval"
            );
        } else {
            eprintln!(
                "error: mail {id} cannot be retried (not failed, its visit is over, or its content was purged)"
            );
            return ExitCode::FAILURE;
        }
    }
    println!(
        "pending {}\nsent    {}\nfailed  {}\nstale   {} (dropped unsent: the visit was over or cancelled)",
        counts.pending, counts.sent, counts.failed, counts.stale
    );
    for (id, kind, created, reply) in failed {
        let when = jiff::Timestamp::from_second(created)
            .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        println!("failed  #{id}\t{kind}\t{when}\t{reply}");
    }
    ExitCode::SUCCESS
}
