// A draft's preview while its check runs: poll the JSON state every 3 s, show the progress,
// and reload the page (with the results table) once the check has finished.
(function () {
  "use strict";
  var root = document.getElementById("check");
  if (!root || root.getAttribute("data-state") !== "checking") return;
  var url = root.getAttribute("data-url");
  var stateEl = document.getElementById("check-state");
  var progressEl = document.getElementById("check-progress");
  var bar = document.getElementById("check-bar");

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (status) {
        if (status.state !== "checking") {
          window.location.reload();
          return;
        }
        stateEl.textContent = status.label;
        if (status.total && progressEl && bar) {
          progressEl.textContent = status.done + " of " + status.total + " solutions run";
          bar.max = status.total;
          bar.value = status.done;
        }
        window.setTimeout(poll, 3000);
      })
      .catch(function () {
        window.setTimeout(poll, 10000);
      });
  }

  window.setTimeout(poll, 3000);
})();
