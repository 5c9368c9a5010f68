// Sortable scoreboard: each column heading is a button; a second press reverses the order.
// Empty cells (no submission yet) always sort last.
(function () {
  "use strict";
  var table = document.getElementById("scoreboard");
  if (!table) return;
  var headers = Array.prototype.slice.call(table.querySelectorAll("thead th"));
  var body = table.tBodies[0];

  function key(row, index, type) {
    var raw = row.cells[index].getAttribute("data-sort") || "";
    if (raw === "") return null;
    return type === "number" ? parseFloat(raw) : raw;
  }

  headers.forEach(function (th, index) {
    var button = th.querySelector("button");
    var type = button.getAttribute("data-type");
    button.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      headers.forEach(function (other) { other.setAttribute("aria-sort", "none"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = key(a, index, type), y = key(b, index, type);
        if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1;
        var order = type === "number" ? x - y : String(x).localeCompare(String(y));
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
})();
