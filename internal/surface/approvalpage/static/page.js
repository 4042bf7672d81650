// Optional: counts the remaining time down and shows times in the reader's
// time zone. The page works without it.
(function () {
  "use strict";
  var today = new Date().toDateString();
  document.querySelectorAll("time[data-local]").forEach(function (el) {
    var at = new Date(el.getAttribute("datetime"));
    if (isNaN(at)) { return; }
    var opts = { hour: "2-digit", minute: "2-digit" };
    if (at.toDateString() !== today) { opts.day = "numeric"; opts.month = "short"; }
    el.textContent = at.toLocaleString([], opts);
  });
  var left = document.getElementById("remaining");
  if (!left) { return; }
  // Counted from the server's figure, not from the reader's clock, which
  // may be wrong.
  var end = Date.now() + 1000 * Number(left.getAttribute("data-seconds"));
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function tick() {
    var s = Math.max(0, Math.round((end - Date.now()) / 1000));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    left.textContent = h > 0 ? h + " h " + pad(m) + " min" : m > 0 ? m + " min " + pad(r) + " s" : r + " s";
    if (s > 0) { setTimeout(tick, 1000); }
  }
  tick();
})();
