//! The family's languages: every text exists in every language and none is
//! left in English, the invite page follows the browser's
//! `Accept-Language`, and a booked visit's pages follow the language the
//! family chose in the form — through the real server and database.

mod common;

use std::sync::Arc;

use bedside::clock::FixedClock;
use bedside::i18n::{Lang, MailText, Text};
use bytes::Bytes;
use common::{TestServer, at, request, seed_ward};
use http::{Method, StatusCode};

/// Monday 23 November 2026, 09:00 in Amsterdam.
const MONDAY_MORNING: &str = "2026-11-23T08:00:00Z";
/// The first slot that morning: 14:00 Amsterdam.
const FIRST_SLOT: &str = "2026-11-23T13:00:00Z";

const OTHERS: [Lang; 3] = [Lang::Nl, Lang::Sv, Lang::De];

/// Texts that may read the same as in English: the abbreviation "min" is
/// what Dutch, Swedish and German write too.
const SAME_AS_ENGLISH: &[&str] = &["minutes_fmt"];

/// Words that would betray a sentence left in English, and that the
/// Dutch, Swedish and German texts have no reason to use (unlike "in",
/// "of", "open" or "link", which are words there too).
const ENGLISH_WORDS: &[&str] = &[
    "the",
    "your",
    "you",
    "visit",
    "visits",
    "please",
    "and",
    "with",
    "to",
    "for",
    "this",
    "cannot",
    "call",
    "time",
    "times",
    "ward",
    "here",
    "booked",
    "cancel",
    "join",
    "sorry",
    "choose",
    "statement",
    "address",
    "regards",
];

fn all_texts(lang: Lang) -> Vec<(&'static str, &'static str)> {
    let mut all = Text::entries(lang.text());
    all.extend(MailText::entries(lang.mail()));
    all
}

fn placeholders(s: &str) -> usize {
    s.matches("{}").count()
}

#[test]
fn every_language_has_every_text_with_englishs_placeholders() {
    let english = all_texts(Lang::En);
    assert!(english.len() > 70, "{}", english.len());
    for lang in Lang::ALL.iter().copied() {
        let texts = all_texts(lang);
        assert_eq!(texts.len(), english.len(), "{lang:?}");
        for ((field, en), (ours_field, ours)) in english.iter().zip(&texts) {
            assert_eq!(field, ours_field);
            assert!(!ours.trim().is_empty(), "{lang:?} {field} is empty");
            assert_eq!(
                placeholders(en),
                placeholders(ours),
                "{lang:?} {field}: {ours:?} has other placeholders than {en:?}"
            );
            // A stray brace would be printed as it is, next to the filled-in value.
            let without = ours.replace("{}", "");
            assert!(
                !without.contains('{') && !without.contains('}'),
                "{lang:?} {field}: {ours:?}"
            );
        }
    }
}

#[test]
fn no_english_is_left_in_the_other_languages() {
    let english = all_texts(Lang::En);
    for lang in OTHERS {
        for ((field, en), (_, ours)) in english.iter().zip(all_texts(lang)) {
            if !SAME_AS_ENGLISH.contains(field) {
                assert_ne!(*en, ours, "{lang:?} {field} is still English");
            }
            let words = ours
                .split(|c: char| !c.is_alphabetic())
                .map(str::to_lowercase);
            for word in words {
                assert!(
                    !ENGLISH_WORDS.contains(&word.as_str()),
                    "{lang:?} {field}: English word {word:?} in {ours:?}"
                );
            }
        }
    }
}

#[test]
fn each_language_is_offered_under_its_own_name() {
    let offered: Vec<(&str, &str)> = Lang::ALL
        .iter()
        .map(|l| (l.code(), l.native_name()))
        .collect();
    assert_eq!(
        offered,
        [
            ("en", "English"),
            ("nl", "Nederlands"),
            ("sv", "Svenska"),
            ("de", "Deutsch"),
        ]
    );
}

/// The pieces of the English page texts long enough to recognise: no
/// page in another language may contain one.
fn english_fragments() -> Vec<&'static str> {
    Lang::En
        .text()
        .entries()
        .into_iter()
        .flat_map(|(_, text)| text.split("{}"))
        .map(str::trim)
        .filter(|piece| piece.len() >= 10)
        .collect()
}

fn assert_no_english(lang: Lang, page: &str) {
    for piece in english_fragments() {
        assert!(
            !page.contains(piece),
            "{lang:?} page still says {piece:?}:\n{page}"
        );
    }
}

fn input_value(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker)? + marker.len();
    Some(page[start..].split('"').next()?.to_string())
}

async fn get_in(server: &TestServer, path: &str, accept_language: &str) -> (StatusCode, String) {
    let (status, _, body) = request(
        server.addr,
        Method::GET,
        path,
        &[("accept-language", accept_language)],
        Bytes::new(),
    )
    .await;
    (status, body)
}

/// Opens the invite page with the browser's `accept_language` and posts
/// the form with `form` appended to a valid token and the first slot.
async fn post_booking(
    server: &TestServer,
    invite: &str,
    accept_language: &str,
    form: &str,
) -> (StatusCode, Option<String>, String) {
    let (status, page) = get_in(server, &format!("/b/{invite}"), accept_language).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let csrf = input_value(&page, "csrf").unwrap();
    let slot = at(FIRST_SLOT).as_second();
    let origin = format!("http://{}", server.addr);
    let (status, headers, body) = request(
        server.addr,
        Method::POST,
        &format!("/b/{invite}"),
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("origin", &origin),
            ("sec-fetch-site", "same-origin"),
            ("accept-language", accept_language),
        ],
        Bytes::from(format!("csrf={csrf}&slot={slot}&{form}")),
    )
    .await;
    let location = headers
        .get("location")
        .map(|l| l.to_str().unwrap().to_string());
    (status, location, body)
}

/// Books the first slot in `language`; returns the visit's path `/v/<code>`.
async fn book_in(server: &TestServer, invite: &str, browser: &str, language: &str) -> String {
    let form =
        format!("language={language}&name=Anna+Example&email=anna%40example.org&consent=yes");
    let (status, location, body) = post_booking(server, invite, browser, &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    location
        .unwrap()
        .strip_suffix("/booked")
        .unwrap()
        .to_string()
}

async fn start() -> (tempfile::TempDir, TestServer, String) {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 2);
    let clock = Arc::new(FixedClock::new(at(MONDAY_MORNING)));
    let server = TestServer::start_at(dir.path(), clock).await;
    (dir, server, ward.invite)
}

#[tokio::test]
async fn a_dutch_browser_gets_the_invite_page_in_dutch() {
    let (_dir, server, invite) = start().await;
    let (status, page) = get_in(&server, &format!("/b/{invite}"), "nl-NL,nl;q=0.9").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<html lang=\"nl\">"), "{page}");
    assert!(
        page.contains("<h1>Plan een videobezoek met Bed 12</h1>"),
        "{page}"
    );
    assert!(page.contains("<h2>maandag 23 november</h2>"), "{page}");
    assert!(page.contains("<h2>dinsdag 24 november</h2>"), "{page}");
    assert!(page.contains("Nog 2 plaatsen vrij"));
    assert!(page.contains("tijden in Europe/Amsterdam"));
    assert!(page.contains("Uw gegevens") && page.contains("Dit bezoek plannen"));
    // The form's language starts at the page's, and every language is offered.
    assert!(
        page.contains("<option value=\"nl\" selected>Nederlands</option>"),
        "{page}"
    );
    for name in ["English", "Svenska", "Deutsch"] {
        assert!(page.contains(&format!(">{name}</option>")), "{name}");
    }
    assert_no_english(Lang::Nl, &page);
    assert!(!page.contains("Monday"));

    // No Accept-Language, or only languages not offered: English.
    for header in ["", "fr-FR,fr;q=0.9", "nl;q=0, en;q=0.5"] {
        let (_, page) = get_in(&server, &format!("/b/{invite}"), header).await;
        assert!(page.contains("<html lang=\"en\">"), "{header}");
        assert!(page.contains("Book a video visit with Bed 12"), "{header}");
        assert!(page.contains("<h2>Monday 23 November</h2>"), "{header}");
        assert!(page.contains("<option value=\"en\" selected>English</option>"));
    }
    server.stop().await;
}

#[tokio::test]
async fn a_visit_booked_in_swedish_shows_its_pages_in_swedish() {
    let (_dir, server, invite) = start().await;
    // The browser prefers German, the family chose Swedish: the choice wins.
    let visit = book_in(&server, &invite, "de-DE,de;q=0.9", "sv").await;

    let (status, page) = get_in(&server, &format!("{visit}/booked"), "de").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<html lang=\"sv\">"), "{page}");
    assert!(page.contains("<h1>Ditt besök är bokat</h1>"), "{page}");
    assert!(
        page.contains("Videobesök på 30 min med Bed 12, måndag 23 november 2026 kl. 14:00."),
        "{page}"
    );
    assert!(page.contains("Lägg till i kalendern"));
    assert_no_english(Lang::Sv, &page);

    // Before the window opens the link shows the waiting page.
    let (status, page) = get_in(&server, &visit, "en").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<html lang=\"sv\">"), "{page}");
    assert!(
        page.contains("<h1>Ditt besök har inte börjat än</h1>"),
        "{page}"
    );
    assert!(
        page.contains("börjar måndag 23 november 2026 kl. 14:00."),
        "{page}"
    );
    assert!(page.contains("Du kan ansluta från måndag 23 november 2026 kl. 13:50"));
    assert!(page.contains("Avboka besöket"));
    assert_no_english(Lang::Sv, &page);
    server.stop().await;
}

#[tokio::test]
async fn a_visit_booked_in_german_shows_its_pages_in_german() {
    let (_dir, server, invite) = start().await;
    let visit = book_in(&server, &invite, "", "de").await;

    let (_, page) = get_in(&server, &format!("{visit}/booked"), "").await;
    assert!(page.contains("<html lang=\"de\">"), "{page}");
    assert!(page.contains("<h1>Ihr Besuch ist gebucht</h1>"), "{page}");
    assert!(
        page.contains("Videobesuch (30 min) bei Bed 12 am Montag, 23. November 2026, 14:00 Uhr."),
        "{page}"
    );
    assert_no_english(Lang::De, &page);

    let (_, page) = get_in(&server, &visit, "").await;
    assert!(page.contains("<html lang=\"de\">"), "{page}");
    assert!(
        page.contains("<h1>Ihr Besuch hat noch nicht begonnen</h1>"),
        "{page}"
    );
    assert!(page.contains("Diesen Besuch absagen"));
    assert_no_english(Lang::De, &page);

    // Cancelling answers in German too.
    let csrf = input_value(&page, "csrf").unwrap();
    let origin = format!("http://{}", server.addr);
    let (status, _, page) = request(
        server.addr,
        Method::POST,
        &format!("{visit}/cancel"),
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("origin", &origin),
            ("sec-fetch-site", "same-origin"),
        ],
        Bytes::from(format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Ihr Besuch ist abgesagt."), "{page}");
    assert_no_english(Lang::De, &page);
    server.stop().await;
}

#[tokio::test]
async fn the_form_explains_problems_in_the_pages_language() {
    let (_dir, server, invite) = start().await;
    // No consent, no e-mail address.
    let (status, _, page) = post_booking(
        &server,
        &invite,
        "nl-BE",
        "language=nl&name=Anna+Example&email=",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("<html lang=\"nl\">"), "{page}");
    assert!(page.contains("Controleer de gemarkeerde velden."));
    assert!(page.contains(Lang::Nl.text().email_problem), "{page}");
    assert!(page.contains(Lang::Nl.text().consent_problem), "{page}");
    // What the family typed is kept, and the chosen language stays chosen.
    assert!(page.contains("value=\"Anna Example\""));
    assert!(page.contains("<option value=\"nl\" selected>"));
    assert_no_english(Lang::Nl, &page);
    assert!(!page.contains("tick the box"));

    // An English page keeps the rules' own, more specific message.
    let (_, _, page) = post_booking(&server, &invite, "en", "language=en&name=Anna&email=").await;
    assert!(page.contains("tick the box"), "{page}");
    server.stop().await;
}

#[tokio::test]
async fn family_error_and_privacy_pages_follow_the_browser() {
    let (_dir, server, _invite) = start().await;
    let (status, page) = get_in(&server, "/v/not-a-real-code", "de-AT,de;q=0.9").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("<html lang=\"de\">"), "{page}");
    assert!(page.contains("Dieser Link funktioniert nicht"), "{page}");
    assert_no_english(Lang::De, &page);

    let (status, page) = get_in(&server, "/b/nope", "sv").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("<html lang=\"sv\">") && page.contains("Länken fungerar inte"));

    let (status, page) = get_in(&server, "/privacy", "fr, sv;q=0.5").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<html lang=\"sv\">"), "{page}");
    assert!(
        page.contains("<h1 id=\"heading\">Integritetspolicy</h1>"),
        "{page}"
    );
    assert_no_english(Lang::Sv, &page);

    // Staff pages are English whatever the browser prefers.
    let (status, page) = get_in(&server, "/staff/visits/1/nothing", "de").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{page}");
    assert!(page.contains("<html lang=\"en\">"), "{page}");
    server.stop().await;
}
