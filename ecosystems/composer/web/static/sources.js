// Optional: while a sync runs, poll its status and reload the page when it
// ends (without JavaScript the page refreshes itself).
document.addEventListener("DOMContentLoaded", function () {
  var el = document.querySelector("[data-sync-status]");
  if (!el) { return; }
  var url = el.getAttribute("data-sync-status");
  var tick = function () {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.done) { window.location.replace(el.getAttribute("data-sync-done")); return; }
        el.textContent = "Syncing… (" + s.elapsed + " s)";
        setTimeout(tick, 1000);
      })
      .catch(function () { setTimeout(tick, 3000); });
  };
  setTimeout(tick, 1000);
});
