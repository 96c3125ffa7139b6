//! Instant meetings: a room and a guest link that staff start now for a
//! call that was not booked, time-boxed exactly like a booked visit.

use jiff::{SignedDuration, Timestamp};
use ring::rand::SecureRandom;
use rusqlite::Connection;

use super::DomainError;
use super::audit::{self, Actor};
use super::codes::Code;
use super::unit::{self, Unit};
use crate::jitsi::RoomName;
use crate::store::meetings::{self as q, MeetingRow};

/// Default and bounds of a meeting's length in minutes.
pub const DEFAULT_MINUTES: i64 = 30;
pub const MIN_MINUTES: i64 = 5;
pub const MAX_MINUTES: i64 = 240;

/// A meeting just started; the guest code is shown this once.
#[derive(Debug)]
pub struct Started {
    pub meeting: MeetingRow,
    pub guest: Code,
}

/// Starts a meeting on `unit` now, for `minutes`.
pub fn start(
    conn: &Connection,
    unit: &Unit,
    staff_id: i64,
    minutes: i64,
    now: Timestamp,
    rng: &dyn SecureRandom,
) -> Result<Started, DomainError> {
    if !(MIN_MINUTES..=MAX_MINUTES).contains(&minutes) {
        return Err(DomainError::invalid(
            "minutes",
            format!("use {MIN_MINUTES} to {MAX_MINUTES} minutes"),
        ));
    }
    let room =
        RoomName::generate(rng).map_err(|_| DomainError::Conflict("no randomness".into()))?;
    let guest = Code::generate(rng);
    let (starts, ends) = (
        now.as_second(),
        (now + SignedDuration::from_mins(minutes)).as_second(),
    );
    let id = q::meeting_insert(
        conn,
        unit.id,
        staff_id,
        room.as_str(),
        &guest.hash(),
        starts,
        ends,
        starts,
    )?;
    audit::record(
        conn,
        Actor::Staff(staff_id),
        "meeting.start",
        Some(&format!("meeting:{id}")),
        "ok",
        starts,
    )?;
    let meeting = q::meeting_by_id(conn, id)?.ok_or(DomainError::NotFound)?;
    Ok(Started { meeting, guest })
}

/// The meeting and its unit behind a guest code.
pub fn by_guest_code(conn: &Connection, code: &str) -> Result<(MeetingRow, Unit), DomainError> {
    let code = Code::parse(code).ok_or(DomainError::NotFound)?;
    let meeting = q::meeting_by_guest(conn, &code.hash())?.ok_or(DomainError::NotFound)?;
    let unit = unit::by_id(conn, meeting.unit_id)?;
    Ok((meeting, unit))
}

/// True when `code` is the guest code of meeting `id`.
pub fn guest_code_matches(conn: &Connection, id: i64, code: &str) -> Result<bool, DomainError> {
    let Some(code) = Code::parse(code) else {
        return Ok(false);
    };
    Ok(q::meeting_by_guest(conn, &code.hash())?.is_some_and(|m| m.id == id))
}

pub fn by_id(conn: &Connection, id: i64) -> Result<(MeetingRow, Unit), DomainError> {
    let meeting = q::meeting_by_id(conn, id)?.ok_or(DomainError::NotFound)?;
    let unit = unit::by_id(conn, meeting.unit_id)?;
    Ok((meeting, unit))
}
