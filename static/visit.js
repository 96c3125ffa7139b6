// Counts down to the moment a visit can be joined, then reloads the page
// (which takes the family into the call). Without JavaScript the page's
// meta refresh does the same, only less smoothly.
(function () {
  "use strict";
  var el = document.getElementById("opens");
  if (!el) { return; }
  var opens = Number(el.getAttribute("data-opens")) * 1000;
  var base = el.textContent;
  function tick() {
    var left = Math.round((opens - Date.now()) / 1000);
    if (left <= 0) { window.location.reload(); return; }
    var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
    var parts = (h ? h + " h " : "") + (h || m ? m + " min " : "") + s + " s";
    el.textContent = base + " (" + parts + ")";
  }
  tick();
  setInterval(tick, 1000);
})();
