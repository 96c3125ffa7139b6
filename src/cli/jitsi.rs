//! `bedside keys generate|list|prune` (RS* signing keys) and
//! `bedside jitsi-config` (the Jitsi-side settings, filled in from this
//! configuration so the two cannot drift apart).

use std::path::Path;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use jiff::Timestamp;

use super::load_config;
use crate::config::Config;
use crate::jitsi::keyring::{KeyRing, KeyState, kid_hash};
use crate::jitsi::keys;

/// `<server.public_url>/asap`: the `asap_key_server` (docker-jitsi-meet
/// `JWT_ASAP_KEYSERVER`) that serves this bedside's public keys.
pub fn key_server(config: &Config) -> String {
    format!("{}/asap", config.server.public_url)
}

/// The `sub` claim bedside mints: the tenant when there is one, else the
/// XMPP domain.
fn subject(config: &Config) -> &str {
    config
        .jitsi
        .tenant
        .as_deref()
        .unwrap_or(&config.jitsi.xmpp_domain)
}

fn now_or(now: Option<&str>) -> Result<Timestamp, String> {
    match now {
        None => Ok(Timestamp::now()),
        Some(v) => v
            .parse()
            .map_err(|_| format!("--now: '{v}' is not an RFC 3339 time like 2026-11-23T10:00:00Z")),
    }
}

fn ring_of(config: &Config) -> Result<KeyRing, String> {
    if !config.jitsi.algorithm.is_public_key() {
        return Err(format!(
            "jitsi.algorithm is {}: tokens are signed with the shared secret, not with RSA keys; \
             set jitsi.algorithm = \"RS256\" (and JWT_SIGN_TYPE=RS256 on the Jitsi side) first",
            config.jitsi.algorithm.as_str()
        ));
    }
    Ok(KeyRing::new(&config.jitsi.key_dir))
}

pub fn generate(config_file: Option<&Path>, now: Option<&str>) -> ExitCode {
    let outcome = (|| {
        let config = load_config(config_file).map_err(|_| String::new())?;
        let ring = ring_of(&config)?;
        let now = now_or(now)?;
        let previous = ring.current_kid().map_err(|e| e.to_string())?;
        let kid = ring.generate(now).map_err(|e| e.to_string())?;
        println!("new signing key: {kid}");
        println!(
            "public key:      {}/{}.pem",
            key_server(&config),
            kid_hash(&kid)
        );
        if let Some(old) = previous {
            println!(
                "retired key:     {old} — its public key stays served until {} (when every token \
                 it signed has expired); `bedside keys prune` removes it after that",
                crate::jitsi::keyring::retire_deadline(now)
            );
        }
        println!(
            "a running server signs with the new key from its next token on; no restart needed"
        );
        Ok::<_, String>(())
    })();
    finish(outcome)
}

pub fn list(config_file: Option<&Path>, now: Option<&str>) -> ExitCode {
    let outcome = (|| {
        let config = load_config(config_file).map_err(|_| String::new())?;
        let ring = ring_of(&config)?;
        let now = now_or(now)?;
        let keys = ring.list().map_err(|e| e.to_string())?;
        if keys.is_empty() {
            println!(
                "no keys in {} yet; `bedside keys generate` makes one",
                ring.dir().display()
            );
        }
        for key in keys {
            let state = match key.state {
                KeyState::Current => "current (signs new tokens)".to_string(),
                KeyState::Retired { since, until } if now < until => {
                    format!("retired {since}, served until {until}")
                }
                KeyState::Retired { since, .. } => {
                    format!("retired {since}, every token expired: prune it")
                }
            };
            println!(
                "{}\t{}/{}.pem\t{state}",
                key.kid,
                key_server(&config),
                key.hash
            );
        }
        Ok::<_, String>(())
    })();
    finish(outcome)
}

pub fn prune(config_file: Option<&Path>, now: Option<&str>) -> ExitCode {
    let outcome = (|| {
        let config = load_config(config_file).map_err(|_| String::new())?;
        let ring = ring_of(&config)?;
        let removed = ring.prune(now_or(now)?).map_err(|e| e.to_string())?;
        if removed.is_empty() {
            println!("nothing to prune: every retired key may still have valid tokens");
        }
        for kid in removed {
            println!("removed {kid}");
        }
        Ok::<_, String>(())
    })();
    finish(outcome)
}

fn finish(outcome: Result<(), String>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        // load_config already printed its problems.
        Err(m) if m.is_empty() => ExitCode::FAILURE,
        Err(m) => {
            eprintln!("error: {m}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// Lines for docker-jitsi-meet's `.env`.
    DockerEnv,
    /// Settings for Prosody's `jitsi-meet.cfg.lua` (plain Jitsi packages).
    Prosody,
}

#[derive(Debug, Args)]
pub struct JitsiConfigArgs {
    /// What to print.
    #[arg(long, value_enum, default_value = "docker-env")]
    pub format: Format,
    /// Print the HS* shared secret itself instead of where it is kept. It is
    /// a credential: do not paste the output anywhere it is logged.
    #[arg(long)]
    pub with_secret: bool,
}

pub fn jitsi_config(config_file: Option<&Path>, args: &JitsiConfigArgs) -> ExitCode {
    let config = match load_config(config_file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let secret = if config.jitsi.algorithm.is_public_key() {
        None
    } else if args.with_secret {
        match keys::load(&config.jitsi, false) {
            Ok(s) => Some(String::from_utf8_lossy(s.expose()).into_owned()),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        Some(format!(
            "<the contents of {}>",
            config.jitsi.app_secret_file.display()
        ))
    };
    let text = match args.format {
        Format::DockerEnv => docker_env(&config, secret.as_deref()),
        Format::Prosody => prosody(&config, secret.as_deref()),
    };
    print!("{text}");
    ExitCode::SUCCESS
}

/// docker-jitsi-meet `.env` lines. Every value is what the minter puts in
/// its tokens (iss, aud, sub, alg) or where Prosody finds the key.
pub fn docker_env(config: &Config, secret: Option<&str>) -> String {
    let j = &config.jitsi;
    let mut out = String::new();
    out.push_str(
        "# docker-jitsi-meet .env settings for bedside (printed by `bedside jitsi-config`).\n",
    );
    out.push_str("# Token authentication on; no way in without a token bedside signed.\n");
    out.push_str("ENABLE_AUTH=1\nAUTH_TYPE=jwt\nJWT_ALLOW_EMPTY=0\nENABLE_GUESTS=0\n");
    out.push_str("JWT_TOKEN_AUTH_MODULE=token_verification\n");
    out.push_str(&format!(
        "# `iss`, `aud` and `alg` of every bedside token.\nJWT_APP_ID={}\n",
        j.app_id
    ));
    out.push_str(&format!("JWT_ACCEPTED_ISSUERS={}\n", j.app_id));
    out.push_str(&format!("JWT_ACCEPTED_AUDIENCES={}\n", j.audience));
    out.push_str(&format!("JWT_SIGN_TYPE={}\n", j.algorithm.as_str()));
    match secret {
        Some(secret) => out.push_str(&format!("JWT_APP_SECRET={secret}\n")),
        None => out.push_str(&format!(
            "# Public keys are fetched from bedside: <this URL>/<sha256(kid)>.pem\nJWT_ASAP_KEYSERVER={}\n",
            key_server(config)
        )),
    }
    out.push_str(&format!(
        "# `sub` of every bedside token is {}; with domain verification on, Prosody compares it.\n",
        subject(config)
    ));
    out.push_str(&format!("XMPP_DOMAIN={}\n", j.xmpp_domain));
    out.push_str("JWT_ENABLE_DOMAIN_VERIFICATION=1\n");
    out.push_str(&format!("PUBLIC_URL={}\n", j.public_url));
    out
}

/// The same settings for a Prosody configured by hand.
pub fn prosody(config: &Config, secret: Option<&str>) -> String {
    let j = &config.jitsi;
    let lua = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut out = String::new();
    out.push_str(
        "-- Prosody settings for bedside (printed by `bedside jitsi-config --format prosody`).\n",
    );
    out.push_str(&format!("VirtualHost \"{}\"\n", lua(&j.xmpp_domain)));
    out.push_str("    authentication = \"token\"\n");
    out.push_str(&format!("    app_id = \"{}\"\n", lua(&j.app_id)));
    match secret {
        Some(secret) => out.push_str(&format!("    app_secret = \"{}\"\n", lua(secret))),
        None => out.push_str(&format!(
            "    asap_key_server = \"{}\"\n",
            lua(&key_server(config))
        )),
    }
    out.push_str(&format!(
        "    signature_algorithm = \"{}\"\n",
        j.algorithm.as_str()
    ));
    out.push_str(&format!(
        "    asap_accepted_issuers = {{ \"{}\" }}\n",
        lua(&j.app_id)
    ));
    out.push_str(&format!(
        "    asap_accepted_audiences = {{ \"{}\" }}\n",
        lua(&j.audience)
    ));
    out.push_str("    allow_empty_token = false\n");
    out.push_str("    enable_domain_verification = true\n");
    out.push_str(&format!(
        "\n-- Add these to the modules_enabled list of your existing MUC component,\n\
         -- Component \"conference.{}\" \"muc\":\n\
         --     \"token_verification\", \"token_affiliation\"\n\
         -- (token_affiliation makes only moderator tokens -- tablets and staff -- owners;\n\
         -- turn Jicofo's auto-owner off too: see jitsi-config/README.md)\n",
        lua(&j.xmpp_domain)
    ));
    out
}
