// The training curves on the result page, drawn with uPlot (from the npm registry, served by the app).
// A chart may overlay several curves (the loss and the held-out metric; every layer's gradient norm):
// uPlot.join aligns their steps. Non-finite values are stored as null and drawn as gaps; the log
// scale hides values <= 0.
(function () {
  "use strict";
  var holder = document.getElementById("chart");
  var dataEl = document.getElementById("curve-data");
  var groupsEl = document.getElementById("chart-groups");
  if (!holder || !dataEl || !groupsEl || typeof uPlot === "undefined") return;
  var curves = JSON.parse(dataEl.textContent);
  var charts = JSON.parse(groupsEl.textContent);
  if (!charts.length) return;
  var byKey = {};
  charts.forEach(function (chart) { byKey[chart.key] = chart; });
  var logBox = document.getElementById("log-scale");
  var select = document.getElementById("series");
  var caption = document.getElementById("curve-summary");
  document.getElementById("chart-controls").hidden = false;
  var COLOURS = ["#1d4ed8", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490", "#a16207", "#be185d"];
  var plot = null;

  function spansDecades(chart) {
    var low = Infinity, high = -Infinity;
    chart.series.forEach(function (name) {
      curves[name].values.forEach(function (v) {
        if (typeof v === "number" && isFinite(v) && v > 0) { low = Math.min(low, v); high = Math.max(high, v); }
      });
    });
    return isFinite(low) && high / low > 100;
  }

  function width() { return Math.max(holder.clientWidth, 280); }
  function height() { return Math.round(Math.min(Math.max(width() * 0.5, 220), 380)); }

  function draw() {
    var chart = byKey[select ? select.value : charts[0].key];
    var log = logBox.checked;
    var clean = function (v) { return typeof v === "number" && isFinite(v) && (!log || v > 0) ? v : null; };
    var data = uPlot.join(chart.series.map(function (name) {
      return [curves[name].steps, curves[name].values.map(clean)];
    }));
    var series = [{ label: "step" }].concat(chart.series.map(function (name, i) {
      var sparse = curves[name].steps.length < 50;  // the held-out metric: a few sampled steps
      return {
        label: name, stroke: COLOURS[i % COLOURS.length], width: 2, spanGaps: sparse,
        points: { show: sparse },
      };
    }));
    holder.setAttribute("aria-label", "Line chart of " + chart.title + " by training step" + (log ? ", logarithmic scale" : ""));
    caption.textContent = chart.series.map(function (name) { return curves[name].summary; }).join(" ");
    if (plot) plot.destroy();
    plot = new uPlot({
      width: width(),
      height: height(),
      scales: { x: { time: false }, y: log ? { distr: 3 } : { auto: true } },
      axes: [
        { label: "step", stroke: "#1a1a1a", grid: { stroke: "#e5e7eb" } },
        { label: chart.series.length === 1 ? chart.series[0] : chart.title, stroke: "#1a1a1a", grid: { stroke: "#e5e7eb" }, size: 70 },
      ],
      legend: { show: true },
      cursor: { drag: { x: true, y: false } },
      series: series,
    }, data, holder);
  }

  // Log scale by default when the curves span more than two decades (a typical loss).
  logBox.checked = spansDecades(charts[0]);
  logBox.addEventListener("change", draw);
  if (select) select.addEventListener("change", function () {
    logBox.checked = spansDecades(byKey[select.value]);
    draw();
  });
  var pending = null;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(function () { if (plot) plot.setSize({ width: width(), height: height() }); }, 100);
  });
  draw();
})();
