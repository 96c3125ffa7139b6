// The tablet kiosk (/t/<device-code>): keeps a clock in the ward's time,
// polls state.json, joins the visit through Jitsi's IFrame API when its
// window opens, and leaves at end + grace — or at once when the visit is
// cancelled or marked done before its end. Everything it needs comes from
// the page's data-* attributes and from state.json; no libraries.
(function () {
  "use strict";
  var root = document.getElementById("kiosk");
  if (!root) { return; }

  // Poll interval bounds in seconds, as the server clamps ?poll=.
  var POLL_MIN = 1, POLL_MAX = 60, POLL_DEFAULT = 15;
  // After failed polls, wait poll × 2^(failures − 1), at most this (ms).
  var BACKOFF_MAX_MS = 60000;
  // Without Jitsi's script the tablet cannot join: reload after this long
  // (ms), by when the Jitsi site may be back.
  var RELOAD_AFTER_MS = 60000;
  // Between the hangup command and removing the frame (ms), so the call
  // is left cleanly instead of by a dropped connection.
  var DISPOSE_DELAY_MS = 1000;

  var stateUrl = root.getAttribute("data-state");
  var zone = root.getAttribute("data-time-zone") || undefined;
  var noSSL = (root.getAttribute("data-jitsi-origin") || "").indexOf("http:") === 0;
  var poll = clamp(Math.round(Number(root.getAttribute("data-poll"))) || POLL_DEFAULT,
    POLL_MIN, POLL_MAX) * 1000;
  // bedside's clock minus the browser's (ms): a tablet's own clock may be
  // off, and the token's window is bedside's.
  var offset = Number(root.getAttribute("data-now")) * 1000 - Date.now();
  var timeFormat = formatter({ hour: "2-digit", minute: "2-digit" });
  var dateFormat = formatter({ weekday: "long", day: "numeric", month: "long" });

  var timer = null;
  var failures = 0;
  var reloading = false;
  var api = null;
  // The call the tablet is in: { room, end, leaveAt } (ms since the epoch).
  var joined = null;

  function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }
  function el(id) { return document.getElementById(id); }
  function now() { return Date.now() + offset; }

  function setText(id, text) {
    var e = el(id);
    if (e && e.textContent !== text) { e.textContent = text; }
  }

  // A formatter in the ward's time zone; the browser's own zone when it
  // does not know the ward's.
  function formatter(options) {
    var withZone = { timeZone: zone };
    for (var k in options) { withZone[k] = options[k]; }
    try { return new Intl.DateTimeFormat("en-GB", withZone); } catch (e) {
      return new Intl.DateTimeFormat("en-GB", options);
    }
  }

  function notice(text) {
    var e = el("notice");
    if (!e) { return; }
    e.textContent = text || "";
    e.hidden = !text;
  }

  function tick() {
    var t = new Date(now());
    setText("clock", timeFormat.format(t));
    setText("date", dateFormat.format(t));
    if (joined && now() >= joined.leaveAt) {
      leave();
      pollIn(0);
    }
  }

  function pollIn(ms) {
    clearTimeout(timer);
    timer = setTimeout(refresh, ms);
  }

  function refresh() {
    var asked = Date.now();
    fetch(stateUrl, { cache: "no-store", credentials: "same-origin",
      headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 404) { return "gone"; }
        if (!r.ok) { throw new Error("state.json answered " + r.status); }
        return r.json();
      })
      .then(function (state) {
        if (state === "gone") { unlinked(); return; }
        failures = 0;
        // The answer was written about halfway through the round trip.
        offset = state.now * 1000 - (asked + Date.now()) / 2;
        if (!reloading) { notice(""); }
        apply(state);
        pollIn(delayAfter(state));
      })
      .catch(function () {
        // A network drop or a restart: keep the clock (and any call)
        // going and ask again, less often the longer it lasts, with some
        // jitter so a ward of tablets does not ask all at once.
        failures += 1;
        if (!reloading) { notice("No connection to the visit service. Trying again…"); }
        var wait = Math.min(poll * Math.pow(2, failures - 1), BACKOFF_MAX_MS);
        pollIn(wait * (0.75 + Math.random() / 2));
      });
  }

  // The regular interval, or right after the next window opens.
  function delayAfter(state) {
    var n = state.next;
    if (n && !state.join) {
      var untilOpen = (n.opens - state.now) * 1000;
      if (untilOpen > 0 && untilOpen < poll) { return untilOpen + 250; }
    }
    return poll;
  }

  function apply(state) {
    setText("unit", state.unit);
    setText("tablet", state.tablet);
    var n = state.next;
    setText("next-heading", state.join ? "Visit now" : "Next visit");
    setText("next", n
      ? timeFormat.format(new Date(n.start * 1000)) + "–" +
        timeFormat.format(new Date(n.end * 1000)) + " · " + n.patient_label
      : "No more visits today");

    var join = state.join;
    if (joined) {
      if (join && join.room === joined.room) {
        joined.leaveAt = join.leave_at * 1000;
      } else if (join) {
        // The next visit's window opened while this one was in its grace time.
        leave();
        enter(join, n);
      } else if (state.now * 1000 < joined.end) {
        // Cancelled, marked done or moved before its end: leave now.
        leave();
      }
      // Otherwise the slot is over: stay for the grace time (see tick).
    } else if (join) {
      enter(join, n);
    }
  }

  function enter(join, next) {
    if (now() >= join.leave_at * 1000) { return; }
    if (typeof window.JitsiMeetExternalAPI !== "function") {
      noJitsi();
      return;
    }
    var call = el("call");
    var created;
    try {
      created = new window.JitsiMeetExternalAPI(join.domain, {
        roomName: join.room,
        jwt: join.jwt,
        parentNode: call,
        width: "100%",
        height: "100%",
        noSSL: noSSL,
        userInfo: { displayName: join.display_name },
        configOverwrite: {
          prejoinConfig: { enabled: false },
          // Older Jitsi Meet releases read this instead.
          prejoinPageEnabled: false,
          // On a tablet's browser Jitsi would otherwise offer its app
          // instead of joining.
          disableDeepLinking: true
        }
      });
    } catch (e) {
      noJitsi();
      return;
    }
    api = created;
    joined = {
      room: join.room,
      end: (next ? next.end : join.leave_at) * 1000,
      leaveAt: join.leave_at * 1000
    };
    el("waiting").hidden = true;
    call.hidden = false;
    if (typeof created.addListener === "function") {
      // Someone pressed "leave" on the tablet: show the waiting screen; the
      // next poll joins again while the visit's window is open.
      created.addListener("readyToClose", function () {
        if (api === created) { leave(); }
      });
    }
  }

  function leave() {
    var old = api;
    api = null;
    joined = null;
    el("call").hidden = true;
    el("waiting").hidden = false;
    if (!old) { return; }
    try { old.executeCommand("hangup"); } catch (e) { /* already gone */ }
    setTimeout(function () {
      try { old.dispose(); } catch (e) { /* already gone */ }
    }, DISPOSE_DELAY_MS);
  }

  // The device link was replaced or removed: the reload shows "not found".
  function unlinked() {
    leave();
    reloading = true;
    window.location.reload();
  }

  // Jitsi's script did not load: say so, and reload later — but only when
  // bedside answers, since a failed reload leaves the browser's error
  // page, which never tries again.
  function noJitsi() {
    notice("The video service cannot be reached. This screen tries again in a minute.");
    if (reloading) { return; }
    reloading = true;
    var attempt = function () {
      fetch(stateUrl, { cache: "no-store", credentials: "same-origin" })
        .then(function (r) {
          if (r.ok || r.status === 404) { window.location.reload(); }
          else { setTimeout(attempt, RELOAD_AFTER_MS); }
        }, function () { setTimeout(attempt, RELOAD_AFTER_MS); });
    };
    setTimeout(attempt, RELOAD_AFTER_MS);
  }

  tick();
  setInterval(tick, 1000);
  refresh();
  // Async scripts have loaded (or failed) by the load event.
  window.addEventListener("load", function () {
    if (typeof window.JitsiMeetExternalAPI !== "function") { noJitsi(); }
  });
})();
