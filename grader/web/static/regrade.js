// A regrade's progress page: reads the batch's JSON every 2 s and updates the count, the bar and the
// failures in place, until nothing is waiting or training. Without this the page reloads itself.
(function () {
  "use strict";
  var root = document.getElementById("regrade");
  if (!root || root.getAttribute("data-finished") === "true") return;
  var url = root.getAttribute("data-json-url");
  var bar = document.getElementById("regrade-bar");
  var stateEl = document.getElementById("regrade-state");

  function set(id, value) {
    var el = document.getElementById(id);
    var text = String(value);
    if (el && el.textContent !== text) el.textContent = text;
  }

  function cell(row, child) {
    var td = document.createElement("td");
    td.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    row.appendChild(td);
  }

  var shownFailures = null;

  function showFailures(failures) {
    var key = failures.map(function (f) { return f.id + ":" + f.label; }).join(",");
    if (key === shownFailures) return; // rebuilt only when it changed: no flicker, focus kept
    shownFailures = key;
    var body = document.querySelector("#failures tbody");
    body.textContent = "";
    failures.forEach(function (f) {
      var row = document.createElement("tr");
      var link = document.createElement("a");
      link.href = f.url;
      link.textContent = "#" + f.id;
      cell(row, link);
      cell(row, f.student);
      cell(row, f.label);
      cell(row, f.verdict || "—");
      body.appendChild(row);
    });
    document.getElementById("failures-wrap").hidden = failures.length === 0;
    document.getElementById("failures-none").hidden = failures.length > 0;
  }

  function update(p) {
    if (!p) return false;
    set("regrade-done", p.done);
    set("regrade-total", p.total);
    set("regrade-waiting", p.waiting);
    set("regrade-running", p.running);
    set("regrade-failed", p.failed);
    bar.max = p.total || 1;
    bar.value = p.done;
    bar.textContent = p.done + " of " + p.total;
    showFailures(p.failures || []);
    if (p.finished) set("regrade-state", "Finished.");
    return p.finished;
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(update)
      .catch(function () { return false; /* offline for a moment: try again */ })
      .then(function (finished) { if (!finished) setTimeout(poll, 2000); });
  }

  setTimeout(poll, 2000);
})();
