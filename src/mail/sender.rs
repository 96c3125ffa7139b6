//! The background sender: wakes when mail is written and every
//! `mail.poll_interval`, claims what is due, hands it over, and records
//! the outcome. Temporary failures come back after a growing, jittered
//! wait; permanent ones and those older than `mail.give_up_after` are
//! marked failed; mail whose visit is over goes stale unsent.

use std::sync::Arc;
use std::time::Duration;

use ring::rand::SecureRandom;
use tokio_util::sync::CancellationToken;

use super::outbox::{self, Claimed};
use super::transport::SendError;
use crate::State;
use crate::store::StoreError;

/// Rows claimed per round: enough for a burst, small enough that one
/// round's write transaction stays short.
const BATCH: i64 = 50;

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
    pub stale: usize,
}

/// How often the sender clears every mail whose visit is over, not only
/// the due ones each round looks at ([`outbox::drop_stale`]): a mail held
/// back past its visit's end (a retry) keeps its content at most this long
/// after the visit.
pub const STALE_SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Runs until `shutdown`; a mail being handed over is finished first.
pub async fn run(state: Arc<State>, shutdown: CancellationToken) {
    let poll = state.config.mail.poll_interval;
    let mut swept_at: Option<i64> = None;
    loop {
        let now = state.clock.now().as_second();
        // The clock may go back (tests, an operator): sweep then too.
        if swept_at.is_none_or(|at| !(0..STALE_SWEEP_EVERY.as_secs() as i64).contains(&(now - at)))
        {
            match sweep_stale(&state, now).await {
                Ok(()) => swept_at = Some(now),
                Err(e) => {
                    tracing::error!(error = %e, "clearing mail of past visits failed; trying again next round")
                }
            }
        }
        if let Err(e) = deliver_due(&state).await {
            tracing::error!(error = %e, "mail round failed; trying again next round");
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = state.mailer.wakeup.notified() => {}
            () = tokio::time::sleep(poll) => {}
        }
    }
}

/// Marks every pending mail whose visit is over as stale.
async fn sweep_stale(state: &State, now: i64) -> Result<(), StoreError> {
    let stale = state
        .store
        .write(move |tx| Ok::<_, StoreError>(outbox::drop_stale(tx, now)?))
        .await?;
    if stale > 0 {
        tracing::info!(stale, "mail dropped unsent: its visit was already over");
    }
    Ok(())
}

/// One round: send everything due now.
pub async fn deliver_due(state: &State) -> Result<Round, StoreError> {
    let mut round = Round::default();
    loop {
        let now = state.clock.now().as_second();
        let (claimed, stale) = state
            .store
            .write(move |tx| Ok::<_, StoreError>(outbox::claim_due(tx, now, BATCH)?))
            .await?;
        round.stale += stale;
        if stale > 0 {
            tracing::info!(stale, "mail dropped unsent: its visit was already over");
        }
        if claimed.is_empty() && stale == 0 {
            return Ok(round);
        }
        for mail in claimed {
            deliver(state, mail, &mut round).await?;
        }
    }
}

async fn deliver(state: &State, mail: Claimed, round: &mut Round) -> Result<(), StoreError> {
    let config = &state.config.mail;
    let outcome = state
        .mailer
        .transport
        .send(&mail, &config.from_name, &config.from_address)
        .await;
    let now = state.clock.now().as_second();
    let (id, kind) = (mail.id, mail.kind.clone());
    match outcome {
        Ok(note) => {
            state
                .store
                .write(move |tx| Ok::<_, StoreError>(outbox::mark_sent(tx, id, now)?))
                .await?;
            round.sent += 1;
            // The note is the relay's reply or the file's path, never the address.
            tracing::info!(mail = id, kind = %kind, "mail sent ({note})");
        }
        Err(SendError::Permanent(reply)) => {
            let reply = scrub(&reply, &mail.recipient);
            tracing::warn!(mail = id, kind = %kind, reply = %reply, "mail refused for good");
            state
                .store
                .write(move |tx| Ok::<_, StoreError>(outbox::mark_failed(tx, id, &reply, now)?))
                .await?;
            round.failed += 1;
        }
        Err(SendError::Temporary(reason)) => {
            let reason = scrub(&reason, &mail.recipient);
            let give_up = mail.created_at + config.give_up_after.as_secs() as i64;
            if now >= give_up {
                tracing::warn!(mail = id, kind = %kind, reason = %reason, "mail given up after retrying");
                let note = format!("gave up after {} attempts: {reason}", mail.attempts + 1);
                state
                    .store
                    .write(move |tx| Ok::<_, StoreError>(outbox::mark_failed(tx, id, &note, now)?))
                    .await?;
                round.failed += 1;
            } else {
                let wait = backoff(
                    config.retry_first,
                    config.retry_max,
                    mail.attempts + 1,
                    &state.rng,
                );
                let due = now + wait.as_secs().max(1) as i64;
                tracing::info!(mail = id, kind = %kind, reason = %reason, retry_in_secs = wait.as_secs(), "mail not sent yet; will retry");
                state
                    .store
                    .write(move |tx| Ok::<_, StoreError>(outbox::mark_retry(tx, id, due, &reason)?))
                    .await?;
                round.retried += 1;
            }
        }
    }
    Ok(())
}

/// The wait before attempt `n + 1`: `first · 2^(n−1)`, at most `max`, then
/// ±20 % jitter so a relay coming back is not hit by every mail at once.
pub fn backoff(first: Duration, max: Duration, attempts: i64, rng: &dyn SecureRandom) -> Duration {
    let doublings = (attempts.max(1) - 1).min(30) as u32;
    let base = first.saturating_mul(1u32 << doublings.min(20)).min(max);
    let mut byte = [0u8; 1];
    let _ = rng.fill(&mut byte);
    let factor = 0.8 + 0.4 * (f64::from(byte[0]) / 255.0);
    base.mul_f64(factor)
}

/// A relay's reply may quote the address; the record must not.
fn scrub(text: &str, address: &str) -> String {
    if address.is_empty() {
        text.to_string()
    } else {
        text.replace(address, "<recipient>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_capped_and_jittered() {
        let rng = ring::rand::SystemRandom::new();
        let (first, max) = (Duration::from_secs(60), Duration::from_secs(1800));
        for (attempt, base) in [(1, 60.0), (2, 120.0), (3, 240.0), (6, 1800.0), (40, 1800.0)] {
            for _ in 0..20 {
                let d = backoff(first, max, attempt, &rng).as_secs_f64();
                assert!(
                    (base * 0.8..=base * 1.2).contains(&d),
                    "attempt {attempt}: {d}"
                );
            }
        }
    }

    #[test]
    fn replies_lose_the_address() {
        assert_eq!(
            scrub("550 5.1.1 <anna@example.org>: unknown", "anna@example.org"),
            "550 5.1.1 <<recipient>>: unknown"
        );
    }
}
