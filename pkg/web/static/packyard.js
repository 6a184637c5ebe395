// Optional enhancements; every page works without them.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll(".snippet").forEach(function (s) {
    var b = s.querySelector("button.copy");
    var code = s.querySelector("code");
    if (!b || !code || !navigator.clipboard) { return; }
    b.hidden = false;
    b.addEventListener("click", function () {
      navigator.clipboard.writeText(code.textContent).then(function () { b.textContent = "Copied"; });
    });
  });
});
