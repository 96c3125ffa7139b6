// Jitsi Meet web client settings for bedside's visits: ward tablets that no
// one touches during a call, and families (often elderly, often on a phone)
// who open one link and should be in the call.
//
// Where: docker-jitsi-meet: save as ${CONFIG}/web/custom-config.js; the web
// container appends it to the config.js it generates at every start.
// Debian/Ubuntu packages: append to /etc/jitsi/meet/<your-domain>-config.js
// (after the `var config = { ... };` block). The lines assign to the existing
// `config` object, so they work in both places. Reload the page to test.
//
// Names follow jitsi-meet's own config.js; older releases read the deprecated
// names given in the comments. The kiosk page sets prejoin and deep linking
// off for the tablet itself too (static/kiosk.js); these make it so for families.

// One click: the visit link already chose the room and the token carries the
// name, so a "check your camera, type your name, press Join" page is only one
// more step a relative can get stuck on, and nobody presses Join on a tablet.
// (Older releases: config.prejoinPageEnabled = false.)
config.prejoinConfig = { enabled: false };

// Stay in the browser on phones and tablets; the "get the app" page would
// lose the token and confuse. (Older releases: config.disableDeepLinking = true.)
config.deeplinking = { disabled: true };
config.disableDeepLinking = true;

// The name shown is the one bedside put in the token; it cannot be edited.
config.readOnlyName = true;
config.disableProfile = true;
config.requireDisplayName = false;

// Start with camera and microphone on: a tablet by a bed has no one to unmute it.
config.startWithAudioMuted = false;
config.startWithVideoMuted = false;

// A visit with a patient is never recorded, streamed or transcribed, and the
// buttons are not offered. (Older: fileRecordingsEnabled, liveStreamingEnabled,
// transcribingEnabled = false.)
config.recordingService = { enabled: false };
config.localRecording = { disable: true };
config.liveStreaming = { enabled: false };
config.transcription = { enabled: false };

// No invite or share dialogs: the room's address opens nothing without a
// token, and visits are booked through bedside, not passed on from the call.
config.disableInviteFunctions = true;

// A ward tablet is shared: keep no list of recent rooms on it.
config.doNotStoreRoom = true;

// The room name is 32 random hex digits: nothing worth showing, and no
// "insecure room name" warning applies.
config.hideConferenceSubject = true;
config.enableInsecureRoomNameWarning = false;

// No lobby: a room is private already (an unguessable name and a token for
// that room only, valid for the visit's slot). If you turn the lobby on, the
// tablet and staff skip it only with the token_lobby_bypass plugin, and a
// family would wait for someone at the bed to let them in.
config.securityUi = { hideLobbyButton: true, disableLobbyPassword: true };
config.breakoutRooms = { hideAddRoomButton: true };

// No requests to third parties from a patient's visit (Gravatar avatars,
// analytics); avatars are drawn locally.
config.disableThirdPartyRequests = true;
config.gravatar = { disabled: true };
config.analytics = { disabled: true };

// No welcome page to wander off to; after hanging up, a simple "you left" page.
config.welcomePage = { disabled: true };
config.enableClosePage = true;

// Few, large buttons: microphone, camera, switch camera (phones), everyone
// on screen, full screen, device settings, hang up.
config.toolbarButtons = [
    'microphone',
    'camera',
    'toggle-camera',
    'tileview',
    'fullscreen',
    'settings',
    'hangup'
];
