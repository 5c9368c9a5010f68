// Class analytics, drawn with uPlot: a histogram of best scores (bars) and the class's median loss curve
// with its middle half as a band (log scale: losses span decades).
(function () {
  "use strict";
  var dataEl = document.getElementById("analytics-data");
  if (!dataEl || typeof uPlot === "undefined") return;
  var data = JSON.parse(dataEl.textContent);
  function width(el) { return Math.max(el.clientWidth, 280); }

  var hist = document.getElementById("histogram");
  if (hist) {
    var edges = data.histogram.edges, counts = data.histogram.counts;
    var mids = counts.map(function (_, i) { return (edges[i] + edges[i + 1]) / 2; });
    new uPlot({
      width: width(hist), height: 260,
      scales: { x: { time: false, range: [edges[0], edges[edges.length - 1]] }, y: { range: [0, Math.max.apply(null, counts) + 1] } },
      axes: [{ label: "best score" }, { label: "students", size: 60 }],
      series: [{ label: "score" }, {
        label: "students", fill: "rgba(29, 78, 216, 0.35)", stroke: "#1d4ed8",
        paths: uPlot.paths.bars({ size: [0.9, Infinity] }), points: { show: false },
      }],
    }, [mids, counts], hist);
  }

  var curve = document.getElementById("median-curve");
  if (curve && data.median_curve.steps.length) {
    var m = data.median_curve;
    var positive = function (v) { return v > 0 ? v : null; };
    var series = [{ label: "%" }], columns = [m.steps], bands = [];
    if (m.median.length) {
      series.push({ label: "lower quartile", stroke: "#93c5fd", width: 1 },
        { label: "median", stroke: "#1d4ed8", width: 2 },
        { label: "upper quartile", stroke: "#93c5fd", width: 1 });
      columns.push(m.low.map(positive), m.median.map(positive), m.high.map(positive));
      bands.push({ series: [3, 1], fill: "rgba(147, 197, 253, 0.3)" });
    }
    if (m.reference) {
      series.push({ label: "reference solution", stroke: "#c2410c", width: 2, dash: [6, 4] });
      columns.push(m.reference.map(positive));
    }
    new uPlot({
      width: width(curve), height: 300,
      scales: { x: { time: false }, y: { distr: 3 } },
      axes: [{ label: "share of training (%)" }, { label: "loss", size: 70 }],
      series: series,
      bands: bands,
    }, columns, curve);
  }
})();
