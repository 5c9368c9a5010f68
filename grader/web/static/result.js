// The training curve on the result page, drawn with uPlot (from the npm registry, served by the app).
// Non-finite values are stored as null and drawn as gaps; the log scale hides values <= 0.
(function () {
  "use strict";
  var holder = document.getElementById("chart");
  var dataEl = document.getElementById("curve-data");
  if (!holder || !dataEl || typeof uPlot === "undefined") return;
  var curves = JSON.parse(dataEl.textContent);
  var names = Object.keys(curves);
  if (!names.length) return;
  var logBox = document.getElementById("log-scale");
  var select = document.getElementById("series");
  var caption = document.getElementById("curve-summary");
  document.getElementById("chart-controls").hidden = false;
  var plot = null;

  function positiveRange(values) {
    var low = Infinity, high = -Infinity;
    values.forEach(function (v) {
      if (typeof v === "number" && isFinite(v) && v > 0) { low = Math.min(low, v); high = Math.max(high, v); }
    });
    return [low, high];
  }

  function width() { return Math.max(holder.clientWidth, 280); }
  function height() { return Math.round(Math.min(Math.max(width() * 0.5, 220), 380)); }

  function draw() {
    var name = select ? select.value : names[0];
    var curve = curves[name];
    var log = logBox.checked;
    var values = curve.values.map(function (v) {
      return typeof v === "number" && isFinite(v) && (!log || v > 0) ? v : null;
    });
    holder.setAttribute("aria-label", "Line chart of " + name + " by training step" + (log ? ", logarithmic scale" : ""));
    caption.textContent = curve.summary;
    if (plot) plot.destroy();
    plot = new uPlot({
      width: width(),
      height: height(),
      scales: { x: { time: false }, y: log ? { distr: 3 } : { auto: true } },
      axes: [
        { label: "step", stroke: "#1a1a1a", grid: { stroke: "#e5e7eb" } },
        { label: name, stroke: "#1a1a1a", grid: { stroke: "#e5e7eb" }, size: 70 },
      ],
      legend: { show: true },
      cursor: { drag: { x: true, y: false } },
      series: [
        { label: "step" },
        { label: name, stroke: "#1d4ed8", width: 2, spanGaps: false, points: { show: false } },
      ],
    }, [curve.steps, values], holder);
  }

  // Log scale by default when the curve spans more than two decades (a typical loss).
  var range = positiveRange(curves[names[0]].values);
  logBox.checked = isFinite(range[0]) && range[1] / range[0] > 100;
  logBox.addEventListener("change", draw);
  if (select) select.addEventListener("change", function () {
    var r = positiveRange(curves[select.value].values);
    logBox.checked = isFinite(r[0]) && r[1] / r[0] > 100;
    draw();
  });
  var pending = null;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(function () { if (plot) plot.setSize({ width: width(), height: height() }); }, 100);
  });
  draw();
})();
