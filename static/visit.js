// Counts down to the moment a visit can be joined, then reloads the page
// (which takes the family into the call). The server says how many
// seconds are left when it serves the page; counting from that, not from
// the phone's own clock, means a phone whose clock is wrong can neither
// reload early in a loop nor late. Without JavaScript the page's meta
// refresh does the same, only less smoothly.
(function () {
  "use strict";
  var el = document.getElementById("countdown");
  if (!el) { return; }
  var wait = Number(el.getAttribute("data-wait"));
  if (!(wait > 0)) { return; }
  var served = Date.now();
  var timer = setInterval(tick, 1000);
  function tick() {
    var left = Math.round(wait - (Date.now() - served) / 1000);
    if (left <= 0) {
      clearInterval(timer);
      window.location.reload();
      return;
    }
    var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
    el.textContent = (h ? h + " h " : "") + (h || m ? m + " min " : "") + s + " s";
  }
  tick();
})();
