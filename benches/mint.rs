//! Token minting against its physical floor: what bedside's [`Minter`] costs
//! per token, next to the bare signature over the very same signing input.
//!
//! - HS256: `Minter::mint` (the grant's claims to JSON, base64url, HMAC,
//!   base64url; the header and fixed claims are encoded, and taken into the
//!   HMAC, once per minter) against ring's `hmac::sign` with a prepared key
//!   over the whole `header.payload` of a token the minter made.
//! - RS256: `Minter::mint` with the RSA-2048 key the server generates on
//!   first start (the system `openssl`) against ring's
//!   `RsaKeyPair::sign(RSA_PKCS1_SHA256)` with that key, parsed once.
//!
//! The four measurements take turns, round after round (so a neighbour's
//! compile slows them all alike), and each figure is the median over the
//! rounds. `cargo bench --bench mint` prints a table; `bench/run` reads the
//! `bench-figure` lines.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use bedside::config::{Config, Env};
use bedside::jitsi::{Grant, Minter, Role, RoomName, TokenUser};
use jiff::{SignedDuration, Timestamp};
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};

/// Rounds of the four measurements; the median is reported.
const ROUNDS: usize = 15;
/// Iterations per round: about 10–30 ms each on a current core.
const HS_ITERATIONS: u32 = 20_000;
const RS_ITERATIONS: u32 = 30;

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter we do
    // not support, and is ignored like libtest would ignore a non-match.
    let hs_dir = tempfile::tempdir().expect("temp dir");
    let rs_dir = tempfile::tempdir().expect("temp dir");
    let hs = minter(hs_dir.path(), "HS256");
    let rs = minter(rs_dir.path(), "RS256");

    let room = RoomName::parse("benchward3bed12").expect("room name");
    let user = TokenUser::new("visit-1", "Family of Bed 12").expect("user");
    let now = Timestamp::now();
    let grant = Grant {
        room: &room,
        user: &user,
        role: Role::Guest,
        not_before: now,
        expires: now + SignedDuration::from_mins(35),
    };

    // The baselines sign exactly what the minter signs.
    let hs_token = hs.minter.mint(&grant, now).expect("mint HS256");
    let hs_input = signing_input(&hs_token).to_string();
    let hmac_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &hs.secret);
    let rs_token = rs.minter.mint(&grant, now).expect("mint RS256");
    let rs_input = signing_input(&rs_token).to_string();
    let rsa = RsaKeyPair::from_pkcs8(&rs.secret).expect("ring parses the generated key");
    let rng = ring::rand::SystemRandom::new();
    let mut signature = vec![0u8; rsa.public().modulus_len()];

    let mut samples: [Vec<f64>; 5] = Default::default();
    for round in 0..ROUNDS {
        // Rotate the order so none always runs first (or after a warm cache).
        for k in 0..5 {
            let which = (round + k) % 5;
            let ns = match which {
                0 => per_iteration(HS_ITERATIONS, || {
                    black_box(hs.minter.mint(black_box(&grant), now).expect("mint"));
                }),
                1 => per_iteration(HS_ITERATIONS, || {
                    black_box(ring::hmac::sign(&hmac_key, black_box(hs_input.as_bytes())));
                }),
                2 => per_iteration(RS_ITERATIONS, || {
                    black_box(rs.minter.mint(black_box(&grant), now).expect("mint"));
                }),
                3 => per_iteration(RS_ITERATIONS, || {
                    rsa.sign(
                        &RSA_PKCS1_SHA256,
                        &rng,
                        black_box(rs_input.as_bytes()),
                        &mut signature,
                    )
                    .expect("sign");
                    black_box(&signature);
                }),
                // Not a baseline: what a JWT library that prepares the HMAC
                // key anew for every token (jsonwebtoken does) pays for the
                // signature alone.
                _ => per_iteration(HS_ITERATIONS, || {
                    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, black_box(&hs.secret));
                    black_box(ring::hmac::sign(&key, black_box(hs_input.as_bytes())));
                }),
            };
            samples[which].push(ns);
        }
    }
    let [hs_mint, hmac, rs_mint, rsa_sign, hmac_keyed] = samples.map(median);

    println!("token minting, median of {ROUNDS} interleaved rounds");
    println!(
        "  HS256 mint        {hs_mint:>12.0} ns/token   raw HMAC-SHA256 (ring) {hmac:>10.0} ns   ratio {:.2}x",
        hs_mint / hmac
    );
    println!(
        "    (for comparison: the HMAC alone with the key prepared per token, as jsonwebtoken does: {hmac_keyed:.0} ns)"
    );
    println!(
        "  RS256 mint        {rs_mint:>12.0} ns/token   raw RSA-2048 sign (ring) {rsa_sign:>8.0} ns   ratio {:.2}x",
        rs_mint / rsa_sign
    );
    println!("bench-figure hs256_mint_ns {hs_mint:.0}");
    println!("bench-figure hs256_hmac_ns {hmac:.0}");
    println!("bench-figure hs256_hmac_fresh_key_ns {hmac_keyed:.0}");
    println!("bench-figure rs256_mint_ns {rs_mint:.0}");
    println!("bench-figure rs256_sign_ns {rsa_sign:.0}");
}

/// A minter loaded the way `bedside serve` loads it, and its raw key: the
/// shared secret for HS256, the private key's PKCS#8 DER for RS256.
struct Loaded {
    minter: Minter,
    secret: Vec<u8>,
}

fn minter(data_dir: &Path, algorithm: &str) -> Loaded {
    let env: Env = [
        (
            "BEDSIDE_DATA_DIR",
            data_dir.to_str().expect("UTF-8 temp path"),
        ),
        ("BEDSIDE_JITSI_ALGORITHM", algorithm),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = Config::load(None, &env).expect("configuration");
    // `true`: make the secret, or generate the RSA key, as a first start does.
    let minter = Minter::load(&config.jitsi, true).expect("minter");
    let secret = match minter.key_ring() {
        None => bedside::jitsi::keys::load(&config.jitsi, false)
            .expect("the secret just made")
            .expose()
            .to_vec(),
        Some(ring) => {
            let kid = ring.current_kid().expect("key dir").expect("a current key");
            let pem = std::fs::read_to_string(ring.dir().join(format!("{kid}.key.pem")))
                .expect("the private key just generated");
            pkcs8_der(&pem)
        }
    };
    Loaded { minter, secret }
}

/// The DER inside a `-----BEGIN PRIVATE KEY-----` (PKCS#8) PEM.
fn pkcs8_der(pem: &str) -> Vec<u8> {
    assert!(
        pem.contains("-----BEGIN PRIVATE KEY-----"),
        "openssl genpkey writes PKCS#8"
    );
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    data_encoding::BASE64
        .decode(body.as_bytes())
        .expect("base64 PEM body")
}

/// `header.payload`: what a JWS signature covers.
fn signing_input(token: &str) -> &str {
    let (input, _signature) = token.rsplit_once('.').expect("a JWS has three parts");
    input
}

/// Nanoseconds per call of `f`, over `n` calls.
fn per_iteration(n: u32, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(n)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
