// The live status page: Server-Sent Events from /events, polling the JSON snapshot every 2 s if
// EventSource is missing or keeps failing. When grading ends, the result page opens.
(function () {
  "use strict";
  var root = document.getElementById("status");
  if (!root) return;
  var eventsUrl = root.getAttribute("data-events-url");
  var jsonUrl = root.getAttribute("data-json-url");
  var resultUrl = root.getAttribute("data-result-url");
  var stateEl = document.getElementById("state");
  var bar = document.getElementById("bar");
  var stepEl = document.getElementById("step");
  var lossEl = document.getElementById("loss");
  var elapsedEl = document.getElementById("elapsed");
  var runEl = document.getElementById("run");
  var etaEl = document.getElementById("eta");
  var placeEl = document.getElementById("queue-place");
  var done = false;
  var source = null;
  var pollTimer = null;

  function number(value, digits) {
    return typeof value === "number" && isFinite(value) ? Number(value.toPrecision(digits)).toString() : "—";
  }

  function update(status) {
    if (!status || done) return;
    if (stateEl.textContent !== status.label) stateEl.textContent = status.label;
    // The place in the queue and its estimates, worded by the server (status.queue.summary).
    var place = status.queue && status.queue.summary ? status.queue.summary : "";
    if (placeEl.textContent !== place) placeEl.textContent = place;
    placeEl.hidden = !place;
    var p = status.progress || {};
    stepEl.textContent = typeof p.step === "number" ? p.step.toLocaleString("en") : "—";
    lossEl.textContent = number(p.loss, 4);
    if (typeof p.run === "number") runEl.textContent = p.run + " of " + p.runs;
    if (typeof p.eta_seconds === "number") {
      // Before the first run ends its length is unknown: the budget gives only an upper bound.
      etaEl.textContent = (p.eta_is_bound ? "at most " : "about ") + Math.round(p.eta_seconds) + " s";
    }
    if (typeof p.elapsed === "number") {
      elapsedEl.textContent = p.elapsed.toFixed(1) + " s" + (p.budget_seconds ? " of " + p.budget_seconds + " s allowed" : "");
      if (typeof p.fraction === "number") bar.value = Math.min(p.fraction, 1);
      else if (p.budget_seconds) bar.value = Math.min(p.elapsed / p.budget_seconds, 1);
    } else if (status.state !== "running") {
      bar.removeAttribute("value"); // indeterminate while waiting
    }
    if (status.final) finish(status.result_url || resultUrl);
  }

  function finish(url) {
    done = true;
    if (source) source.close();
    if (pollTimer) clearTimeout(pollTimer);
    bar.value = 1;
    var link = document.getElementById("result-link");
    link.hidden = false;
    window.location.assign(url);
  }

  function poll() {
    if (done) return;
    fetch(jsonUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(update)
      .catch(function () { /* offline for a moment: try again */ })
      .then(function () { if (!done) pollTimer = setTimeout(poll, 2000); });
  }

  function fallBack() {
    if (source) source.close();
    source = null;
    if (!pollTimer && !done) poll();
  }

  if (!window.EventSource) {
    poll();
    return;
  }
  var failures = 0;
  source = new EventSource(eventsUrl);
  source.onmessage = function (event) {
    failures = 0;
    try { update(JSON.parse(event.data)); } catch (e) { /* a malformed event: wait for the next */ }
  };
  source.addEventListener("gone", fallBack);
  source.onerror = function () {
    // The server ends each stream after a time cap and EventSource reconnects by itself;
    // a refused stream (CLOSED) or repeated failures mean polling instead.
    failures += 1;
    if (source.readyState === EventSource.CLOSED || failures >= 3) fallBack();
  };
})();
