// What the trained model learned over its input domain, drawn with uPlot: for one input the model's
// curve against the truth; for two, a heat map (the error, the prediction or the truth) or the
// decision regions with the public validation points. uPlot draws the axes, grid and cursor; the
// cells are painted on its canvas in a hook, in the axes' own coordinates (log axes included).
(function () {
  "use strict";
  var holder = document.getElementById("fit-chart");
  var dataEl = document.getElementById("fit-data");
  if (!holder || !dataEl || typeof uPlot === "undefined") return;
  var fit = JSON.parse(dataEl.textContent);
  var layerSelect = document.getElementById("fit-layer");
  var readout = document.getElementById("fit-readout");
  var legend = document.getElementById("fit-legend");
  var CLASS_FILL = ["rgba(29,78,216,0.28)", "rgba(194,65,12,0.28)", "rgba(21,128,61,0.28)", "rgba(126,34,206,0.28)",
    "rgba(185,28,28,0.28)", "rgba(14,116,144,0.28)", "rgba(161,98,7,0.28)", "rgba(190,24,93,0.28)"];
  var CLASS_INK = ["#1d4ed8", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490", "#a16207", "#be185d"];
  // Sequential (light to dark blue-green) and diverging (blue, white, red) ramps: readable in grey too.
  var SEQUENTIAL = [[247, 252, 240], [204, 235, 197], [123, 204, 196], [43, 140, 190], [8, 64, 129]];
  var DIVERGING = [[33, 102, 172], [146, 197, 222], [247, 247, 247], [244, 165, 130], [178, 24, 43]];
  var plot = null;

  function width() { return Math.max(holder.clientWidth, 280); }
  function height() { return fit.kind === "line" ? Math.round(Math.min(Math.max(width() * 0.5, 220), 360)) : Math.min(width(), 460); }
  function axisLabel(axis) { return axis.name + (axis.unit ? " (" + axis.unit + ")" : ""); }
  function finite(v) { return typeof v === "number" && isFinite(v); }
  function scale(axis) { return axis.log ? { time: false, distr: 3 } : { time: false }; }

  function ramp(stops, t) {
    t = Math.min(1, Math.max(0, t)) * (stops.length - 1);
    var i = Math.min(stops.length - 2, Math.floor(t)), f = t - i, a = stops[i], b = stops[i + 1];
    return "rgb(" + [0, 1, 2].map(function (k) { return Math.round(a[k] + (b[k] - a[k]) * f); }).join(",") + ")";
  }

  function quantile(values, q) {
    var sorted = values.filter(finite).sort(function (a, b) { return a - b; });
    if (!sorted.length) return 0;
    return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  }

  // Cell edges: halfway between grid values (geometrically on a log axis), the outer ones mirrored.
  function edges(axis) {
    var v = axis.values, out = [];
    var mid = axis.log ? function (a, b) { return Math.sqrt(a * b); } : function (a, b) { return (a + b) / 2; };
    for (var i = 0; i <= v.length; i++) {
      if (i === 0) out.push(v.length > 1 ? (axis.log ? v[0] * v[0] / mid(v[0], v[1]) : 2 * v[0] - mid(v[0], v[1])) : v[0] - 0.5);
      else if (i === v.length) out.push(v.length > 1 ? (axis.log ? v[i - 1] * v[i - 1] / mid(v[i - 2], v[i - 1]) : 2 * v[i - 1] - mid(v[i - 2], v[i - 1])) : v[0] + 0.5);
      else out.push(mid(v[i - 1], v[i]));
    }
    return out;
  }

  // What the cells show, and how a value becomes a colour.
  function layer() {
    var name = layerSelect ? layerSelect.value : (fit.kind === "regions" ? "prediction" : (fit.error ? "error" : "prediction"));
    var values = fit[name];
    if (fit.kind === "regions") {
      return { name: name, values: values, colour: function (v) { return CLASS_FILL[Math.round(v) % CLASS_FILL.length]; },
        describe: function (v) { return "class " + Math.round(v); } };
    }
    if (name === "error") {
      var bound = Math.max(quantile(values.map(Math.abs), 0.98), 1e-12);
      return { name: name, values: values, low: -bound, high: bound,
        colour: function (v) { return ramp(DIVERGING, (v + bound) / (2 * bound)); },
        describe: function (v) { return "error " + v.toPrecision(3); }, stops: DIVERGING };
    }
    var all = (fit.truth || []).concat(fit.prediction).filter(finite);
    var low = Math.min.apply(null, all), high = Math.max.apply(null, all);
    if (!(high > low)) high = low + 1;
    return { name: name, values: values, low: low, high: high,
      colour: function (v) { return ramp(SEQUENTIAL, (v - low) / (high - low)); },
      describe: function (v) { return name + " " + v.toPrecision(4); }, stops: SEQUENTIAL };
  }

  // Built with the DOM and CSSOM, not markup: the pages' CSP refuses inline style attributes.
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  function drawLegend(current) {
    if (!legend) return;
    legend.textContent = "";
    if (fit.kind === "regions") {
      for (var c = 0; c < fit.classes; c++) {
        var swatch = el("span", "swatch");
        swatch.style.background = CLASS_FILL[c % CLASS_FILL.length];
        swatch.style.borderColor = CLASS_INK[c % CLASS_INK.length];
        legend.appendChild(swatch);
        legend.appendChild(el("span", "", "class " + c));
      }
      legend.appendChild(el("span", "muted", "· dots: public validation points, coloured by their true class"));
      return;
    }
    var bar = el("span", "ramp");
    bar.style.background = "linear-gradient(to right," + current.stops.map(function (s, i) {
      return "rgb(" + s.join(",") + ") " + (100 * i / (current.stops.length - 1)) + "%";
    }).join(",") + ")";
    legend.appendChild(el("span", "ramp-label", current.low.toPrecision(3)));
    legend.appendChild(bar);
    legend.appendChild(el("span", "ramp-label", current.high.toPrecision(3)));
  }

  function drawMap() {
    var xa = fit.axes[0], ya = fit.axes[1], xe = edges(xa), ye = edges(ya), current = layer();
    var ny = ya.values.length;
    function paint(u) {
      var ctx = u.ctx;
      ctx.save();
      ctx.beginPath();
      ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
      ctx.clip();
      for (var i = 0; i < xa.values.length; i++) {
        var x0 = u.valToPos(xe[i], "x", true), x1 = u.valToPos(xe[i + 1], "x", true);
        for (var j = 0; j < ny; j++) {
          var v = current.values[i * ny + j];
          if (!finite(v)) continue;
          var y0 = u.valToPos(ye[j], "y", true), y1 = u.valToPos(ye[j + 1], "y", true);
          ctx.fillStyle = current.colour(v);
          ctx.fillRect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0) + 0.5, Math.abs(y1 - y0) + 0.5);
        }
      }
      ctx.restore();
    }
    function points(u) {
      var p = fit.points;
      if (!p) return;
      var ctx = u.ctx, r = 3 * devicePixelRatio;
      ctx.save();
      for (var k = 0; k < p.x.length; k++) {
        ctx.beginPath();
        ctx.arc(u.valToPos(p.x[k], "x", true), u.valToPos(p.y[k], "y", true), r, 0, 2 * Math.PI);
        ctx.fillStyle = CLASS_INK[Math.round(p.label[k]) % CLASS_INK.length];
        ctx.fill();
        ctx.lineWidth = devicePixelRatio;
        ctx.strokeStyle = "#fff";
        ctx.stroke();
      }
      ctx.restore();
    }
    function lookup(u) {
      var left = u.cursor.left, top = u.cursor.top;
      if (left == null || left < 0 || !readout) return;
      var x = u.posToVal(left, "x"), y = u.posToVal(top, "y");
      var i = nearest(xa.values, x), j = nearest(ya.values, y), v = current.values[i * ny + j];
      readout.textContent = xa.name + " = " + xa.values[i].toPrecision(3) + ", " + ya.name + " = " + ya.values[j].toPrecision(3) +
        ": " + (finite(v) ? current.describe(v) : "outside the domain");
    }
    drawLegend(current);
    if (plot) plot.destroy();
    plot = new uPlot({
      width: width(), height: height(),
      scales: {
        x: Object.assign(scale(xa), { range: [xe[0], xe[xe.length - 1]] }),
        y: Object.assign(scale(ya), { range: [ye[0], ye[ye.length - 1]] }),
      },
      axes: [{ label: axisLabel(xa), stroke: "#1a1a1a", grid: { stroke: "rgba(0,0,0,0.08)" } },
        { label: axisLabel(ya), stroke: "#1a1a1a", grid: { stroke: "rgba(0,0,0,0.08)" }, size: 70 }],
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      // One invisible series spans the domain so uPlot lays out the axes; the cells are painted below it.
      series: [{}, { stroke: "transparent", points: { show: false } }],
      hooks: { drawClear: [paint], draw: [points], setCursor: [lookup] },
    }, [[xe[0], xe[xe.length - 1]], [ye[0], ye[ye.length - 1]]], holder);
  }

  function nearest(values, v) {
    var best = 0;
    for (var i = 1; i < values.length; i++) if (Math.abs(values[i] - v) < Math.abs(values[best] - v)) best = i;
    return best;
  }

  function drawLine() {
    var xa = fit.axes[0], classes = fit.task !== "regression";
    var series = [{ label: xa.name }];
    var data = [xa.values];
    if (fit.truth) {
      series.push({ label: "truth: " + fit.target, stroke: "#4b5563", width: 2, dash: [6, 4], points: { show: false } });
      data.push(fit.truth);
    }
    series.push({ label: classes ? "predicted class" : "your model", stroke: "#1d4ed8", width: 2, points: { show: false },
      paths: classes ? uPlot.paths.stepped({ align: 1 }) : undefined });
    data.push(fit.prediction);
    if (plot) plot.destroy();
    plot = new uPlot({
      width: width(), height: height(),
      scales: { x: scale(xa), y: { auto: true } },
      axes: [{ label: axisLabel(xa), stroke: "#1a1a1a", grid: { stroke: "#e5e7eb" } },
        { label: classes ? "class" : fit.target, stroke: "#1a1a1a", grid: { stroke: "#e5e7eb" }, size: 70 }],
      legend: { show: true },
      series: series,
    }, data, holder);
  }

  function draw() { if (fit.kind === "line") drawLine(); else drawMap(); }
  if (layerSelect) layerSelect.addEventListener("change", draw);
  var pending = null;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(draw, 150);
  });
  document.getElementById("fit-controls").hidden = !layerSelect;
  draw();
})();
