//! Public-key ("ASAP") tokens and the Jitsi-side settings: a token from a
//! visit link is verified with the public key fetched from bedside's own
//! `/asap/<sha256(kid)>.pem`, exactly the URL Prosody builds; a rotated key
//! stops signing but stays served until its tokens have expired; and every
//! value `bedside jitsi-config` prints equals what the minter puts in tokens.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use bedside::clock::FixedClock;
use common::{TestServer, at, seed_booking, seed_ward};
use data_encoding::BASE64URL_NOPAD;
use http::StatusCode;
use jsonwebtoken::{DecodingKey, Validation};

/// A Monday far from the machine's own clock, so nothing here depends on it.
const BOOKED_AT: &str = "2030-01-07T08:00:00Z";
/// 14:00 in Amsterdam; the join window opens 10 minutes early.
const SLOT: &str = "2030-01-07T13:00:00Z";
const IN_WINDOW: &str = "2030-01-07T12:55:00Z";

/// Non-default Jitsi settings, so the test proves they flow through.
const JITSI: &[(&str, &str)] = &[
    ("BEDSIDE_JITSI_APP_ID", "stmary-bedside"),
    ("BEDSIDE_JITSI_AUDIENCE", "stmary-jitsi"),
    ("BEDSIDE_JITSI_XMPP_DOMAIN", "meet.stmary.example.org"),
];

fn settings(alg: &'static str) -> Vec<(&'static str, &'static str)> {
    let mut s = JITSI.to_vec();
    s.push(("BEDSIDE_JITSI_ALGORITHM", alg));
    s
}

/// Runs the real `bedside` binary with the server's settings.
fn bedside(
    data_dir: &Path,
    server: &TestServer,
    alg: &str,
    args: &[&str],
) -> (bool, String, String) {
    let out = common::keep_log(
        Command::new(env!("CARGO_BIN_EXE_bedside"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("BEDSIDE_DATA_DIR", data_dir)
            .env("BEDSIDE_PUBLIC_URL", format!("http://{}", server.addr))
            .env("BEDSIDE_JITSI_ALGORITHM", alg)
            .envs(JITSI.iter().copied())
            .output()
            .expect("bedside runs"),
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn part(token: &str, i: usize) -> serde_json::Value {
    let p = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&BASE64URL_NOPAD.decode(p.as_bytes()).unwrap()).unwrap()
}

/// The token of a family's visit link at `now`.
async fn visit_token(server: &TestServer, clock: &FixedClock, code: &str, now: &str) -> String {
    clock.set(at(now));
    let (status, headers, _) = server.get(&format!("/v/{code}")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = headers["location"].to_str().unwrap();
    location.split_once("#jwt=").unwrap().1.to_string()
}

/// What Prosody does: sha256 the header's kid, fetch `<server>/<hash>.pem`.
async fn fetch_public_key(
    server: &TestServer,
    key_server_path: &str,
    kid: &str,
) -> (StatusCode, String) {
    let hash = data_encoding::HEXLOWER
        .encode(ring::digest::digest(&ring::digest::SHA256, kid.as_bytes()).as_ref());
    let (status, _, body) = server.get(&format!("{key_server_path}/{hash}.pem")).await;
    (status, body)
}

fn verify_rs(
    token: &str,
    pem: &str,
    alg: jsonwebtoken::Algorithm,
) -> Result<serde_json::Value, String> {
    let key = DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
    let mut v = Validation::new(alg);
    // Signature only: the claims are compared by the test itself, and the
    // window is in the test's clock, not the machine's.
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &v)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

fn parse_env(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[tokio::test]
async fn rs256_tokens_verify_with_the_key_bedside_serves_and_survive_a_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
    let booked = seed_booking(
        dir.path(),
        ward.patient_id,
        SLOT,
        ("Anna Example", "anna@example.org"),
        BOOKED_AT,
        false,
    );
    let code = booked.visit.expose().to_string();
    let clock = Arc::new(FixedClock::new(at(IN_WINDOW)));
    let server = TestServer::start_at_with(dir.path(), clock.clone(), &settings("RS256")).await;

    // First start made a key; the token names it.
    let token = visit_token(&server, &clock, &code, IN_WINDOW).await;
    let header = part(&token, 0);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    let first_kid = header["kid"]
        .as_str()
        .expect("an RS token carries a kid")
        .to_string();

    let (status, pem) = fetch_public_key(&server, "/asap", &first_kid).await;
    assert_eq!(status, StatusCode::OK);
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
    let claims = verify_rs(&token, &pem, jsonwebtoken::Algorithm::RS256)
        .expect("verifies with the served key");
    assert_eq!(claims["iss"], "stmary-bedside");
    assert_eq!(claims["aud"], "stmary-jitsi");
    assert_eq!(claims["sub"], "meet.stmary.example.org");
    assert_eq!(claims["moderator"], false);
    // A token altered after signing does not verify.
    let mut forged = claims.clone();
    forged["moderator"] = true.into();
    let forged = format!(
        "{}.{}.{}",
        token.split('.').next().unwrap(),
        BASE64URL_NOPAD.encode(forged.to_string().as_bytes()),
        token.split('.').nth(2).unwrap()
    );
    assert!(verify_rs(&forged, &pem, jsonwebtoken::Algorithm::RS256).is_err());
    // Only the kid's hash finds a key.
    let (status, _) = fetch_public_key(&server, "/asap", "some-other-kid").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Rotation, while the server runs.
    let (ok, out, err) = bedside(
        dir.path(),
        &server,
        "RS256",
        &["keys", "generate", "--now", IN_WINDOW],
    );
    assert!(ok, "{out}{err}");
    let token2 = visit_token(&server, &clock, &code, "2030-01-07T12:56:00Z").await;
    let second_kid = part(&token2, 0)["kid"].as_str().unwrap().to_string();
    assert_ne!(
        second_kid, first_kid,
        "the next token is signed by the new key"
    );
    let (status, pem2) = fetch_public_key(&server, "/asap", &second_kid).await;
    assert_eq!(status, StatusCode::OK);
    verify_rs(&token2, &pem2, jsonwebtoken::Algorithm::RS256).expect("new key verifies");
    assert!(
        verify_rs(&token2, &pem, jsonwebtoken::Algorithm::RS256).is_err(),
        "keys differ"
    );

    // The old key signs no more, but tokens it signed stay checkable until
    // they have all expired: at most 24 h after it retired.
    clock.set(at("2030-01-08T12:54:59Z"));
    let (status, old) = fetch_public_key(&server, "/asap", &first_kid).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(old, pem);
    verify_rs(&token, &old, jsonwebtoken::Algorithm::RS256).expect("old token still checkable");
    clock.set(at("2030-01-08T12:55:00Z"));
    let (status, _) = fetch_public_key(&server, "/asap", &first_kid).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = fetch_public_key(&server, "/asap", &second_kid).await;
    assert_eq!(status, StatusCode::OK, "the current key is always served");

    // `keys prune` removes it from the directory only once that is true.
    let (ok, out, _) = bedside(
        dir.path(),
        &server,
        "RS256",
        &["keys", "prune", "--now", "2030-01-08T12:54:59Z"],
    );
    assert!(ok);
    assert!(out.contains("nothing to prune"), "{out}");
    let (ok, out, _) = bedside(
        dir.path(),
        &server,
        "RS256",
        &["keys", "prune", "--now", "2030-01-08T12:55:00Z"],
    );
    assert!(ok);
    assert!(out.contains(&format!("removed {first_kid}")), "{out}");
    server.stop().await;
}

#[tokio::test]
async fn docker_env_lines_equal_what_the_minter_puts_in_tokens() {
    for alg in ["RS256", "HS256", "RS512", "HS384"] {
        let dir = tempfile::tempdir().unwrap();
        let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
        let booked = seed_booking(
            dir.path(),
            ward.patient_id,
            SLOT,
            ("Anna Example", "anna@example.org"),
            BOOKED_AT,
            false,
        );
        let clock = Arc::new(FixedClock::new(at(IN_WINDOW)));
        let server = TestServer::start_at_with(dir.path(), clock.clone(), &settings(alg)).await;
        let token = visit_token(&server, &clock, booked.visit.expose(), IN_WINDOW).await;
        let header = part(&token, 0);
        let claims = part(&token, 1);

        let (ok, out, err) = bedside(
            dir.path(),
            &server,
            alg,
            &["jitsi-config", "--format", "docker-env", "--with-secret"],
        );
        assert!(ok, "{err}");
        let env = parse_env(&out);
        assert_eq!(env["ENABLE_AUTH"], "1");
        assert_eq!(env["AUTH_TYPE"], "jwt");
        assert_eq!(env["JWT_ALLOW_EMPTY"], "0");
        assert_eq!(env["JWT_APP_ID"], claims["iss"].as_str().unwrap(), "{alg}");
        assert!(
            env["JWT_ACCEPTED_ISSUERS"]
                .split(',')
                .any(|i| i == claims["iss"]),
            "{alg}"
        );
        assert!(
            env["JWT_ACCEPTED_AUDIENCES"]
                .split(',')
                .any(|a| a == claims["aud"]),
            "{alg}"
        );
        assert_eq!(env["JWT_SIGN_TYPE"], header["alg"].as_str().unwrap());
        assert_eq!(env["XMPP_DOMAIN"], claims["sub"].as_str().unwrap());
        assert_eq!(env["PUBLIC_URL"], "https://localhost:8443");

        if alg.starts_with("RS") {
            // The key server printed is where the key verifying this token is.
            let base = format!("http://{}", server.addr);
            let path = env["JWT_ASAP_KEYSERVER"]
                .strip_prefix(&base)
                .expect("points at this bedside");
            let (status, pem) =
                fetch_public_key(&server, path, header["kid"].as_str().unwrap()).await;
            assert_eq!(status, StatusCode::OK);
            let alg: jsonwebtoken::Algorithm = alg.parse().unwrap();
            verify_rs(&token, &pem, alg).expect("verifies with the printed key server");
            assert!(!env.contains_key("JWT_APP_SECRET"));
        } else {
            let secret = &env["JWT_APP_SECRET"];
            let parts: Vec<&str> = token.split('.').collect();
            let ring_alg = if alg == "HS256" {
                ring::hmac::HMAC_SHA256
            } else {
                ring::hmac::HMAC_SHA384
            };
            ring::hmac::verify(
                &ring::hmac::Key::new(ring_alg, secret.as_bytes()),
                format!("{}.{}", parts[0], parts[1]).as_bytes(),
                &BASE64URL_NOPAD.decode(parts[2].as_bytes()).unwrap(),
            )
            .expect("the printed secret verifies the token");
            // Without --with-secret the credential is not printed.
            let (_, plain, _) = bedside(dir.path(), &server, alg, &["jitsi-config"]);
            assert!(!plain.contains(secret.as_str()));
            assert!(parse_env(&plain)["JWT_APP_SECRET"].starts_with("<the contents of"));
        }

        // The Prosody form carries the same values.
        let (ok, lua, _) = bedside(
            dir.path(),
            &server,
            alg,
            &["jitsi-config", "--format", "prosody"],
        );
        assert!(ok);
        for expected in [
            format!("VirtualHost \"{}\"", claims["sub"].as_str().unwrap()),
            format!("app_id = \"{}\"", claims["iss"].as_str().unwrap()),
            format!(
                "asap_accepted_audiences = {{ \"{}\" }}",
                claims["aud"].as_str().unwrap()
            ),
            format!(
                "signature_algorithm = \"{}\"",
                header["alg"].as_str().unwrap()
            ),
            "allow_empty_token = false".to_string(),
        ] {
            assert!(
                lua.contains(&expected),
                "{alg}: missing {expected} in\n{lua}"
            );
        }
        server.stop().await;
    }
}

#[test]
fn keys_commands_explain_themselves_in_shared_secret_mode() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::keep_log(
        Command::new(env!("CARGO_BIN_EXE_bedside"))
            .args(["keys", "generate"])
            .env("BEDSIDE_DATA_DIR", dir.path())
            .env_remove("BEDSIDE_JITSI_ALGORITHM")
            .output()
            .unwrap(),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("jitsi.algorithm is HS256"), "{err}");
    assert!(!dir.path().join("jitsi-keys").exists(), "nothing made");
}
