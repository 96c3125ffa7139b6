-- Prosody settings for bedside's tokens, on a Jitsi Meet installed from the
-- Debian/Ubuntu packages (jitsi-meet, jitsi-meet-prosody, jitsi-meet-tokens).
--
-- Where: merge these lines into /etc/prosody/conf.avail/<your-domain>.cfg.lua
-- (the file the packages wrote; conf.d links to it). Replace meet.example.org
-- with your XMPP domain: on a package install that is the public host name,
-- and it must equal bedside's jitsi.xmpp_domain, which bedside puts in the
-- token's `sub`. docker-jitsi-meet writes all of this itself from its .env:
-- use docker-jitsi-meet.env there instead of this file.
--
-- `bedside jitsi-config --format prosody` prints these lines filled in from
-- bedside's running configuration (app id, audience, domain, algorithm, key
-- server URL). Then: prosodyctl check config && systemctl restart prosody jicofo
--
-- What Prosody checks (resources/prosody-plugins/token/util.lib.lua): typ JWT,
-- the configured alg, iss among asap_accepted_issuers, a string aud among
-- asap_accepted_audiences, sub = this domain, room = the room joined, nbf and
-- exp as numbers with no leeway. bedside's tokens are built for exactly that.

-- Where community plugins (mod_token_affiliation.lua) live; see README.md.
-- Keep the packages' own path first.
plugin_paths = { "/usr/share/jitsi-meet/prosody-plugins/", "/usr/local/share/prosody-plugins-custom/" }

VirtualHost "meet.example.org"
    -- Every participant logs in with a token (SASL ANONYMOUS plus the token).
    authentication = "token"
    -- jitsi.app_id: bedside's tokens carry it as `iss`.
    app_id = "bedside"

    -- HS256 (bedside's default): the shared secret, the same bytes as
    -- bedside's jitsi.app_secret_file (at least 32: `openssl rand -hex 32`).
    app_secret = "paste-the-secret-here"
    signature_algorithm = "HS256"

    -- RS256 ("ASAP"), instead of app_secret: Prosody fetches each key once,
    -- by the token's `kid`, from <asap_key_server>/<sha256(kid) in hex>.pem,
    -- and bedside serves them at <server.public_url>/asap. Set bedside's
    -- jitsi.algorithm = "RS256" (its keys live in jitsi.key_dir; the first
    -- start makes one, `bedside keys generate` rotates), then use these two
    -- lines and remove app_secret above:
    -- asap_key_server = "https://visits.hospital.example.org/asap"
    -- signature_algorithm = "RS256"

    -- Exact, case-sensitive matches. Never "*": bedside refuses to mint
    -- with iss or aud "*", and Prosody should not accept any issuer either.
    asap_accepted_issuers = { "bedside" }
    -- jitsi.audience: bedside's `aud`.
    asap_accepted_audiences = { "jitsi" }

    -- No token, no entry. true would let anyone with the room's address in.
    allow_empty_token = false
    -- `sub` must be this domain (or bedside's jitsi.tenant): a token minted
    -- for another Jitsi does not open rooms here.
    enable_domain_verification = true

    -- The rest of the packages' VirtualHost block (ssl, modules_enabled with
    -- "bosh", "ping", "speakerstats", ..., main_muc, lobby_muc) stays as it is.

-- The conference MUC (on package installs: conference.<your-domain>).
Component "conference.meet.example.org" "muc"
    -- Keep the packages' other settings (storage, muc_room_locking, ...).
    modules_enabled = {
        -- The modules the packages list here stay (muc_hide_all,
        -- muc_meeting_id, muc_domain_mapper, polls, ...). Add these two:
        -- Checks the token's `room` (and sub, nbf, exp) when a room is
        -- created or joined: a family's token opens its visit's room only.
        "token_verification";
        -- Jicofo's auto-owner is off (jicofo.conf here), so nobody is
        -- moderator by arriving first; this plugin makes a participant
        -- "owner" when the token says so (context.user.affiliation "owner",
        -- or moderator true) and "member" otherwise. bedside mints
        -- moderator tokens only for ward tablets and staff; families are
        -- members and cannot mute, kick or end the visit.
        "token_affiliation";
        -- Alternative to token_affiliation, reading the top-level boolean
        -- `moderator` (bedside sets both). Use one, not both; note that the
        -- original token_moderation logs the whole token at info level.
        -- "token_moderation";
    }
