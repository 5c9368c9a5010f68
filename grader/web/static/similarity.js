// The similarity page while a check runs: reads its progress every second and moves the bar; reloads
// the page once it has finished, to list the pairs. Without this the page reloads itself.
(function () {
  "use strict";
  var root = document.getElementById("similarity");
  if (!root || root.getAttribute("data-finished") === "true") return;
  var url = root.getAttribute("data-json-url");
  var bar = document.getElementById("check-bar");

  function set(id, value) {
    var el = document.getElementById(id);
    if (el) el.textContent = String(value);
  }

  function update(p) {
    if (!p) return false;
    if (bar) { bar.max = p.total || 1; bar.value = p.done; }
    set("check-done", p.done);
    set("check-total", p.total);
    if (p.finished) window.location.reload();
    return p.finished;
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(update)
      .catch(function () { return false; /* offline for a moment: try again */ })
      .then(function (finished) { if (!finished) setTimeout(poll, 1000); });
  }

  setTimeout(poll, 1000);
})();
