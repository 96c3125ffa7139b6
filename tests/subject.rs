//! A family member's rights on the command line: `bedside subject export`
//! shows everything stored about them, `bedside subject erase` removes it
//! all — and nothing of anyone else.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{open_db, seed_unit};

const BIN: &str = env!("CARGO_BIN_EXE_bedside");
/// Monday 23 November 2026, 09:00 in Amsterdam: when families book.
const MORNING: &str = "2026-11-23T08:00:00Z";
/// 14:00 Amsterdam that day.
const SLOT: &str = "2026-11-23T13:00:00Z";
/// The same time the next day.
const NEXT_DAY: &str = "2026-11-24T13:00:00Z";

const ADA: (&str, &str) = ("Ada Lovelace-5c2d", "ada-5c2d@example.org");
const BERT: (&str, &str) = ("Bert Bystander-0e4f", "bert-0e4f@example.org");

/// Books through the domain with the real mailer, so there is mail too.
fn book(dir: &Path, patient_id: i64, slot: &str, (name, email): (&str, &str)) -> i64 {
    common::seed_booking(dir, patient_id, slot, (name, email), MORNING, true).id
}

fn bedside(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("BEDSIDE_") {
            cmd.env_remove(k);
        }
    }
    common::keep_log(
        cmd.env("BEDSIDE_DATA_DIR", dir)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    )
}

/// Every row about one contact, as text: contact, bookings, mail.
fn rows_of(dir: &Path, contact_id: i64) -> Vec<String> {
    let db = open_db(dir);
    let mut out = Vec::new();
    for sql in [
        "SELECT * FROM contacts WHERE id = ?1",
        "SELECT * FROM bookings WHERE contact_id = ?1 ORDER BY id",
        "SELECT o.* FROM outbox o JOIN bookings b ON b.id = o.booking_id
         WHERE b.contact_id = ?1 ORDER BY o.id",
    ] {
        let mut stmt = db.prepare(sql).unwrap();
        let columns = stmt.column_count();
        let rows: Vec<String> = stmt
            .query_map([contact_id], |r| {
                Ok((0..columns)
                    .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        out.extend(rows);
    }
    out
}

fn count(dir: &Path, sql: &str, id: i64) -> i64 {
    open_db(dir).query_row(sql, [id], |r| r.get(0)).unwrap()
}

fn contact_id(dir: &Path, booking_id: i64) -> i64 {
    count(
        dir,
        "SELECT contact_id FROM bookings WHERE id = ?1",
        booking_id,
    )
}

#[test]
fn export_shows_everything_and_erase_removes_one_person_only() {
    let dir = tempfile::tempdir().unwrap();
    let ward3 = seed_unit(dir.path(), "Ward 3", "mon-sun 14:00-16:00", 1, "Bed 12");
    let ward5 = seed_unit(dir.path(), "Ward 5", "mon-sun 14:00-16:00", 1, "Bed 7");
    let ada_first = book(dir.path(), ward3.patient_id, SLOT, ADA);
    let ada_second = book(dir.path(), ward3.patient_id, NEXT_DAY, ADA);
    let bert_booking = book(dir.path(), ward5.patient_id, SLOT, BERT);
    let ada = contact_id(dir.path(), ada_first);
    let ada2 = contact_id(dir.path(), ada_second);
    let bert = contact_id(dir.path(), bert_booking);
    assert_ne!(ada, bert);
    assert_ne!(ada, ada2, "each booking keeps its own contact");

    // Export, found by the address in any case.
    let out = bedside(
        dir.path(),
        &["subject", "export", "--email", "ADA-5c2d@Example.org"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // One contact per booking: her name, address and consent as given
    // with each.
    let contacts = json["contacts"].as_array().unwrap();
    assert_eq!(contacts.len(), 2, "{json}");
    for contact in contacts {
        assert_eq!(contact["name"], ADA.0);
        assert_eq!(contact["email"], ADA.1);
        assert_eq!(contact["language"], "en");
        assert!(contact["consent_at"].is_string());
        assert!(contact["privacy_version"].is_string());
    }
    let bookings = json["bookings"].as_array().unwrap();
    assert_eq!(bookings.len(), 2);
    assert_eq!(bookings[0]["patient"], "Bed 12");
    assert_eq!(bookings[0]["unit"], "Ward 3");
    assert_eq!(bookings[0]["tablet"], "Tablet 1");
    assert_eq!(bookings[0]["status"], "booked");
    assert_eq!(bookings[0]["starts_at"], SLOT);
    assert_eq!(bookings[0]["ends_at"], "2026-11-23T13:30:00Z");
    assert_eq!(bookings[1]["starts_at"], NEXT_DAY);
    let mail = json["mail"].as_array().unwrap();
    let queued_for = |contact| {
        count(
            dir.path(),
            "SELECT count(*) FROM outbox o JOIN bookings b ON b.id = o.booking_id
             WHERE b.contact_id = ?1",
            contact,
        )
    };
    let queued = queued_for(ada) + queued_for(ada2);
    assert!(queued > 0);
    assert_eq!(mail.len() as i64, queued);
    assert!(
        mail.iter()
            .all(|m| m["kind"].is_string() && m["status"].is_string())
    );
    assert_eq!(json["retention"]["booking_days"], 14);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains(BERT.0) && !text.contains(BERT.1));

    // Erase Ada; Bert stays byte for byte.
    let bert_before = rows_of(dir.path(), bert);
    assert!(bert_before.len() >= 2);
    let out = bedside(dir.path(), &["subject", "erase", "--email", ADA.1]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(rows_of(dir.path(), ada).is_empty());
    assert!(rows_of(dir.path(), ada2).is_empty());
    assert_eq!(
        count(
            dir.path(),
            "SELECT count(*) FROM outbox WHERE booking_id = ?1",
            ada_first
        ),
        0
    );
    assert_eq!(rows_of(dir.path(), bert), bert_before);

    // Audited by id and counts, never the address.
    let (object, outcome): (String, String) = open_db(dir.path())
        .query_row(
            "SELECT object, outcome FROM audit WHERE action = 'subject.erase'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(object, format!("contact:{ada},{ada2}"));
    assert!(outcome.contains("bookings=2"), "{outcome}");
    assert!(!outcome.contains("ada") && !object.contains("ada"));

    // Gone for good: a second export or erase finds nobody.
    let out = bedside(dir.path(), &["subject", "export", "--email", ADA.1]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no family contact"));
}

/// An instant meeting on the ward whose guest link is queued for `email`.
fn guest_invite(dir: &Path, unit_id: i64, email: &str) -> i64 {
    use bedside::domain::{meeting, unit};
    let staff = common::seed_staff(dir, "nurse", "operator", &[]);
    let config = common::config_for(dir, &[]);
    let mailer = bedside::mail::Mailer::new(&config).unwrap();
    let conn = bedside::store::open_for_command(&config.db_path()).unwrap();
    let ward = unit::by_id(&conn, unit_id).unwrap();
    let started = meeting::start(
        &conn,
        &ward,
        staff,
        30,
        common::at(MORNING),
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    mailer
        .guest_invite(
            &conn,
            &started.meeting,
            "http://127.0.0.1/x",
            email,
            bedside::i18n::Lang::En,
            common::at(MORNING).as_second(),
        )
        .unwrap();
    started.meeting.id
}

fn write_eml(dir: &Path, name: &str, to: &str) -> std::path::PathBuf {
    let mail = dir.join("mail");
    std::fs::create_dir_all(&mail).unwrap();
    let path = mail.join(name);
    std::fs::write(
        &path,
        format!(
            "From: <bedside@example.org>\r\nTo: <{to}>\r\nSubject: Your visit\r\n\r\nHello\r\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn a_guest_with_only_a_meeting_invitation_and_mail_files_is_exported_and_erased() {
    const GUEST: &str = "gita-71aa@example.org";
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_unit(dir.path(), "Ward 3", "mon-sun 14:00-16:00", 1, "Bed 12");
    let meeting = guest_invite(dir.path(), ward.unit_id, GUEST);
    let ada_booking = book(dir.path(), ward.patient_id, SLOT, ADA);
    let ada_file = write_eml(dir.path(), "000001-confirmation.eml", ADA.1);
    let guest_file = write_eml(
        dir.path(),
        "000002-guest-invite.eml",
        "Gita-71aa@Example.org",
    );

    let out = bedside(dir.path(), &["subject", "export", "--email", GUEST]);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["contacts"].as_array().unwrap().len(),
        0,
        "a guest is no family contact"
    );
    assert_eq!(json["bookings"].as_array().unwrap().len(), 0);
    let mail = json["mail"].as_array().unwrap();
    assert_eq!(mail.len(), 1, "{json}");
    assert_eq!(mail[0]["kind"], "guest-invite");
    assert_eq!(mail[0]["recipient"], GUEST);
    assert_eq!(mail[0]["meeting"]["unit"], "Ward 3");
    assert_eq!(json["mail_files"][0]["file"], "000002-guest-invite.eml");
    assert_eq!(json["mail_files"].as_array().unwrap().len(), 1);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains(ADA.1) && !text.contains("000001"));

    // Ada's export lists her file, not the guest's.
    let out = bedside(dir.path(), &["subject", "export", "--email", ADA.1]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["mail_files"][0]["file"], "000001-confirmation.eml");
    assert_eq!(json["mail_files"].as_array().unwrap().len(), 1);

    let ada = contact_id(dir.path(), ada_booking);
    let ada_before = rows_of(dir.path(), ada);
    let out = bedside(dir.path(), &["subject", "erase", "--email", GUEST]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 mails, 1 mail files"),
        "{out:?}"
    );
    assert_eq!(
        count(
            dir.path(),
            "SELECT count(*) FROM outbox WHERE meeting_id = ?1",
            meeting
        ),
        0,
        "the invitation holding the address is gone"
    );
    assert_eq!(
        count(
            dir.path(),
            "SELECT count(*) FROM meetings WHERE id = ?1",
            meeting
        ),
        1,
        "the meeting names no one and stays until its retention"
    );
    assert!(!guest_file.exists());
    assert!(ada_file.exists(), "another person's file stays");
    assert_eq!(rows_of(dir.path(), ada), ada_before);
    let (object, outcome): (Option<String>, String) = open_db(dir.path())
        .query_row(
            "SELECT object, outcome FROM audit WHERE action = 'subject.erase'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(object, None);
    assert_eq!(
        outcome,
        "cancelled=0 bookings=0 mail=1 contacts=0 mail_files=1"
    );

    // Nothing left to find.
    let out = bedside(dir.path(), &["subject", "export", "--email", GUEST]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing is stored about it"));

    // Ada's erasure takes her file too.
    let out = bedside(dir.path(), &["subject", "erase", "--email", ADA.1]);
    assert!(out.status.success(), "{out:?}");
    assert!(!ada_file.exists());
    assert!(rows_of(dir.path(), ada).is_empty());
}
