// A sweep's comparison page: every run's curve overlaid (coloured by a chosen setting), the metric
// against that setting with the spread over seeds, and the table sortable by any column. uPlot draws
// axes, grid and lines; bands, whiskers and dots are painted in its hooks, in the axes' coordinates.
// While runs are going the page follows the sweep's event stream and fetches data.json when a run
// moves on; without EventSource, or when the stream is refused or fails, it polls data.json instead.
// The page's CSP refuses inline styles: colour keys are classes (app.css, "sweeps" section).
(function () {
  "use strict";
  var root = document.getElementById("sweep");
  var table = document.getElementById("sweep-table");
  if (!root || !table) return;
  var progress = document.getElementById("sweep-progress");
  var charts = document.getElementById("sweep-charts");
  var seriesSelect = document.getElementById("sweep-series");
  var settingSelect = document.getElementById("sweep-setting");
  var canDraw = typeof uPlot !== "undefined" && charts && seriesSelect && settingSelect;
  var REFRESH_MS = 3000;
  var source = null;  // the sweep's event stream while it is open: it, not a timer, asks for data.json
  // Okabe-Ito based, darkened where needed for 3:1 against white; the dash cycles too, so
  // neighbouring values differ in more than hue.
  var PALETTE = ["#0072B2", "#D55E00", "#007A5E", "#B5427F", "#8C6D00", "#1A1A1A", "#6A3D9A", "#4A6C6F"];
  var DASHES = [[], [10, 5], [2, 4]];
  var SERIES_LABEL = { loss: "training loss", heldout_loss: "held-out loss" };
  var data = null, states = root.getAttribute("data-states"), curvesPlot = null, metricPlot = null;
  // A result's curves never change: each poll asks only for those of results not held here yet.
  var held = {};  // submission id -> { result: result id, curves: { series: { steps, values } } }

  function finite(v) { return typeof v === "number" && isFinite(v); }
  function fmt(v) { return finite(v) ? label(Number(v.toPrecision(4))) : "—"; }
  // Settings written as the table writes them (Python's str): 1e-05, not JavaScript's 0.00001.
  function label(v) {
    if (Array.isArray(v)) return "[" + v.map(label).join(", ") + "]";
    if (finite(v) && v !== 0 && Math.abs(v) < 1e-4) return v.toExponential().replace(/e([+-])(\d)$/, "e$10$2");
    return v == null ? "—" : String(v);
  }
  // Log axes' tick labels: uPlot's default rounds 1e-4 to "0".
  function tick(v) {
    if (!finite(v)) return null;
    return v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5) ? v.toExponential() : String(Number(v.toPrecision(3)));
  }
  function ticks(u, splits) { return splits.map(tick); }
  function steps(n) { return Number(n).toLocaleString("en"); }
  function rgba(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }
  function look(i) { return { colour: PALETTE[i % PALETTE.length], dash: DASHES[i % DASHES.length], cls: "c" + (i % PALETTE.length) + " d" + (i % DASHES.length) }; }
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }
  function describe(settings) {
    return data.varying.map(function (name) { return name + " = " + label(settings[name]); }).join(", ");
  }
  function width(holder) { return Math.max(holder.clientWidth, 280); }
  function height(holder) { return Math.round(Math.min(Math.max(width(holder) * 0.5, 240), 400)); }

  // The distinct values of a setting: numbers ascending, anything else in the order asked.
  function valuesOf(name) {
    var seen = {}, out = [];
    data.points.forEach(function (p) {
      var key = label(p.settings[name]);
      if (!(key in seen)) { seen[key] = true; out.push(p.settings[name]); }
    });
    if (out.every(finite)) out.sort(function (a, b) { return a - b; });
    return out.map(label);
  }

  function bestPoint() { return data.points.filter(function (p) { return p.best; })[0] || null; }
  function bestText(best) {
    var n = best.runs.filter(function (r) { return finite(r.metric_value); }).length;
    return describe(best.settings) + ", " + data.metric + " " + fmt(best.median) + (n > 1 ? " (median of " + n + " seeds)" : "");
  }

  function legend(list, name, values, extra) {
    list.textContent = "";
    values.forEach(function (value, i) {
      var item = el("li");
      item.appendChild(el("span", "key " + look(i).cls));
      item.appendChild(document.createTextNode(name + " = " + value + (extra ? extra(value) : "")));
      list.appendChild(item);
    });
  }

  // ---- Every run's curve ------------------------------------------------------------------------

  // Alignment gaps (undefined after uPlot.join) inside a run's own range, filled linearly, so the
  // seeds of a point can be compared at every step even when their stored steps differ.
  function filled(xs, ys) {
    var out = ys.slice(), last = -1;
    for (var i = 0; i < ys.length; i++) {
      if (ys[i] === undefined) continue;
      if (last >= 0 && i - last > 1 && finite(ys[last]) && finite(ys[i])) {
        for (var k = last + 1; k < i; k++) out[k] = ys[last] + (ys[i] - ys[last]) * (xs[k] - xs[last]) / (xs[i] - xs[last]);
      }
      last = i;
    }
    return out;
  }

  function drawCurves() {
    var holder = document.getElementById("curves-chart");
    var caption = document.getElementById("curves-caption");
    var readout = document.getElementById("curves-readout");
    var series = seriesSelect.value, setting = settingSelect.value, values = valuesOf(setting);
    var best = bestPoint(), runs = [], missing = 0;
    var positive = function (v) { return finite(v) && v > 0 ? v : null; };  // a log axis: 0 and below are gaps
    data.points.forEach(function (p) {
      p.runs.forEach(function (r) {
        var c = (data.curves[String(r.submission_id)] || {})[series];
        var n = c ? Math.min(c.steps.length, c.values.length) : 0;
        var ys = n ? c.values.slice(0, n).map(positive) : [];
        if (ys.some(function (v) { return v !== null; })) runs.push({ run: r, point: p, xs: c.steps.slice(0, n), ys: ys });
        else missing++;
      });
    });
    if (curvesPlot) { curvesPlot.destroy(); curvesPlot = null; }
    holder.setAttribute("data-curves", String(runs.length));
    legend(document.getElementById("curves-legend"), setting, runs.length ? values : [], function (value) {
      var n = runs.filter(function (x) { return label(x.point.settings[setting]) === value; }).length;
      return " (" + n + " run" + (n === 1 ? "" : "s") + ")";
    });
    if (!runs.length) {
      caption.textContent = "No " + SERIES_LABEL[series] + " curves yet: each run's appears when it is graded.";
      return;
    }
    var aligned = uPlot.join(runs.map(function (x) { return [x.xs, x.ys]; }));
    var bands = [];  // per point with several seeds drawn: the series that span it
    data.points.forEach(function (p) {
      var idx = [];
      runs.forEach(function (x, i) { if (x.point === p) idx.push(i + 1); });
      if (idx.length > 1) bands.push({ point: p, series: idx });
    });
    var opts = {
      width: width(holder), height: height(holder),
      scales: { x: { time: false }, y: { distr: 3 } },
      axes: [
        { label: "step", stroke: "#1a1a1a", grid: { stroke: "#e5e7eb" } },
        { label: SERIES_LABEL[series] + " (log scale)", stroke: "#1a1a1a", grid: { stroke: "#e5e7eb" }, size: 70, values: ticks },
      ],
      legend: { show: false },
      focus: { alpha: 0.35 },
      cursor: { focus: { prox: 16 }, drag: { x: true, y: false } },
      series: [{ label: "step" }].concat(runs.map(function (x) {
        var style = look(values.indexOf(label(x.point.settings[setting])));
        var sparse = x.xs.length < 50;  // the held-out loss: looks every so many steps
        return {
          label: "run " + x.run.submission_id + ": " + describe(x.point.settings),
          stroke: style.colour, dash: style.dash, width: x.point.best ? 3.5 : 1.5, spanGaps: sparse,
          points: { show: sparse, size: x.point.best ? 6 : 4 },
        };
      })),
      hooks: {
        drawAxes: [function (u) { bands.forEach(function (b) { paintSpread(u, b, values, setting); }); }],
        setSeries: [function (u, i, o) {
          if (!o || !o.focus || i == null) { readout.textContent = ""; return; }
          var x = runs[i - 1], r = x.run;
          readout.textContent = "Run " + r.submission_id + ": " + describe(x.point.settings) + ", seed " + (r.seed_index + 1) +
            ", " + data.metric + " " + fmt(r.metric_value) + (r.stopped ? ", stopped: " + r.stopped + (r.steps ? " at step " + steps(r.steps) : "") : "");
        }],
      },
    };
    curvesPlot = new uPlot(opts, aligned, holder);
    holder.setAttribute("aria-label", "Line chart of " + SERIES_LABEL[series] + " by step for " + runs.length + " runs, coloured by " + setting);
    var plateaus = runs.filter(function (x) { return x.run.stopped === "plateau"; });
    var earliest = plateaus.reduce(function (m, x) { return x.run.steps && x.run.steps < m ? x.run.steps : m; }, Infinity);
    caption.textContent = runs.length + " runs' " + SERIES_LABEL[series] + " by training step (log scale), coloured by " +
      setting + " (" + values.length + " value" + (values.length === 1 ? "" : "s") + ")" +
      (best ? "; thicker lines: the best configuration, " + describe(best.settings) : "") + "." +
      (bands.length ? " Shaded: from the lowest to the highest of a configuration's seeds." : "") +
      (plateaus.length ? " " + plateaus.length + " stopped early when the held-out loss plateaued" +
        (isFinite(earliest) ? ", the first at step " + steps(earliest) : "") + "." : "") +
      (missing ? " " + missing + " run" + (missing === 1 ? " has" : "s have") + " no curve yet." : "");
  }

  function paintSpread(u, band, values, setting) {
    var xs = u.data[0], cols = band.series.map(function (s) { return filled(xs, u.data[s]); });
    var style = look(values.indexOf(label(band.point.settings[setting])));
    var ctx = u.ctx, upper = [], lower = [];
    function flush() {
      if (upper.length > 1) {
        ctx.beginPath();
        upper.forEach(function (p, k) { if (k) ctx.lineTo(p[0], p[1]); else ctx.moveTo(p[0], p[1]); });
        for (var k = lower.length - 1; k >= 0; k--) ctx.lineTo(lower[k][0], lower[k][1]);
        ctx.closePath();
        ctx.fill();
      }
      upper = []; lower = [];
    }
    ctx.save();
    ctx.beginPath();
    ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
    ctx.clip();
    ctx.fillStyle = rgba(style.colour, 0.16);
    for (var i = 0; i < xs.length; i++) {
      var vs = cols.map(function (c) { return c[i]; }).filter(function (v) { return finite(v) && v > 0; });
      if (vs.length < 2) { flush(); continue; }
      var x = u.valToPos(xs[i], "x", true);
      upper.push([x, u.valToPos(Math.max.apply(null, vs), "y", true)]);
      lower.push([x, u.valToPos(Math.min.apply(null, vs), "y", true)]);
    }
    flush();
    ctx.restore();
  }

  // ---- The metric against the chosen setting ----------------------------------------------------

  function drawMetric() {
    var holder = document.getElementById("metric-chart");
    var caption = document.getElementById("metric-caption");
    var readout = document.getElementById("metric-readout");
    var name = settingSelect.value;
    var other = data.varying.filter(function (n) { return n !== name; })[0] || null;
    var otherValues = other ? valuesOf(other) : [];
    var categories = valuesOf(name);
    document.getElementById("metric-title").textContent = data.metric + " against " + name;
    if (metricPlot) { metricPlot.destroy(); metricPlot = null; }
    var points = data.points.filter(function (p) { return p.runs.some(function (r) { return finite(r.metric_value); }); });
    holder.setAttribute("data-dots", "0");
    legend(document.getElementById("metric-legend"), other || "", other && points.length ? otherValues : []);
    if (!points.length) {
      caption.textContent = "No runs graded yet: " + data.metric + " is drawn against " + name + " as they finish.";
      return;
    }
    var numeric = points.every(function (p) { return finite(p.settings[name]); });
    var logX = numeric && data.log_settings.indexOf(name) >= 0 && points.every(function (p) { return p.settings[name] > 0; });
    var xOf = numeric ? function (p) { return p.settings[name]; } : function (p) { return categories.indexOf(label(p.settings[name])); };
    var ys = [];
    points.forEach(function (p) { p.runs.forEach(function (r) { if (finite(r.metric_value)) ys.push(r.metric_value); }); });
    var yLow = Math.min.apply(null, ys), yHigh = Math.max.apply(null, ys);
    var logY = yLow > 0 && yHigh / yLow > 10;
    var yRange = logY ? [yLow / 1.6, yHigh * 1.6] : pad(yLow, yHigh);
    var xsAll = points.map(xOf), xLow = Math.min.apply(null, xsAll), xHigh = Math.max.apply(null, xsAll);
    var xRange = !numeric ? [-0.5, categories.length - 0.5] : logX ? [xLow / 2, xHigh * 2] : pad(xLow, xHigh);
    var colourOf = function (p) { return other ? otherValues.indexOf(label(p.settings[other])) : 0; };
    // Configurations at the same x sit side by side (a few pixels apart), one slot per colour.
    var slots = Math.min(otherValues.length || 1, 8);
    var shift = function (p) { return (colourOf(p) % slots - (slots - 1) / 2) * 7; };
    var dots = [];  // where each run was drawn, in CSS pixels of the plotting area, for the readout

    function paint(u) {
      var ctx = u.ctx, ratio = devicePixelRatio || 1;
      var X = function (p) { return u.valToPos(xOf(p), "x", true) + shift(p) * ratio; };
      var Y = function (v) { return u.valToPos(v, "y", true); };
      dots = [];
      ctx.save();
      ctx.beginPath();
      ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
      ctx.clip();
      groups(points, name).forEach(function (group) {
        if (!numeric || group.length < 2) return;
        var style = look(colourOf(group[0]));
        var spread = group.filter(function (p) { return finite(p.low) && p.high > p.low; });
        if (spread.length) {  // the band: from the lowest to the highest seed, along the line
          ctx.beginPath();
          group.forEach(function (p, k) { var y = Y(finite(p.high) ? p.high : p.median); if (k) ctx.lineTo(X(p), y); else ctx.moveTo(X(p), y); });
          group.slice().reverse().forEach(function (p) { ctx.lineTo(X(p), Y(finite(p.low) ? p.low : p.median)); });
          ctx.closePath();
          ctx.fillStyle = rgba(style.colour, 0.16);
          ctx.fill();
        }
        ctx.beginPath();
        group.forEach(function (p, k) { if (k) ctx.lineTo(X(p), Y(p.median)); else ctx.moveTo(X(p), Y(p.median)); });
        ctx.setLineDash(style.dash.map(function (d) { return d * ratio; }));
        ctx.lineWidth = 1.5 * ratio;
        ctx.strokeStyle = style.colour;
        ctx.stroke();
        ctx.setLineDash([]);
      });
      points.forEach(function (p) {
        var style = look(colourOf(p)), x = X(p);
        ctx.strokeStyle = style.colour;
        ctx.fillStyle = style.colour;
        if (finite(p.low) && p.high > p.low) {  // the whisker: every seed lies between its ends
          ctx.lineWidth = 2 * ratio;
          ctx.beginPath();
          ctx.moveTo(x, Y(p.low)); ctx.lineTo(x, Y(p.high));
          ctx.moveTo(x - 4 * ratio, Y(p.low)); ctx.lineTo(x + 4 * ratio, Y(p.low));
          ctx.moveTo(x - 4 * ratio, Y(p.high)); ctx.lineTo(x + 4 * ratio, Y(p.high));
          ctx.stroke();
        }
        p.runs.forEach(function (r) {
          if (!finite(r.metric_value)) return;
          ctx.beginPath();
          ctx.arc(x, Y(r.metric_value), 3 * ratio, 0, 2 * Math.PI);
          ctx.fillStyle = "#fff";
          ctx.fill();
          ctx.lineWidth = 1.5 * ratio;
          ctx.stroke();
          dots.push({ x: x / ratio - u.bbox.left / ratio, y: Y(r.metric_value) / ratio - u.bbox.top / ratio, point: p, run: r });
        });
        if (finite(p.median)) {
          ctx.beginPath();
          ctx.arc(x, Y(p.median), 5 * ratio, 0, 2 * Math.PI);
          ctx.fillStyle = style.colour;
          ctx.fill();
        }
        if (p.best && finite(p.median)) {
          ctx.beginPath();
          ctx.arc(x, Y(p.median), 10 * ratio, 0, 2 * Math.PI);
          ctx.lineWidth = 2 * ratio;
          ctx.strokeStyle = "#1a1a1a";
          ctx.stroke();
          ctx.fillStyle = "#1a1a1a";
          ctx.font = "600 " + 13 * ratio + "px system-ui, sans-serif";
          ctx.textBaseline = "middle";
          // Beside the ring, not above: neighbouring configurations sit a few pixels left and right.
          var right = x + 50 * ratio < u.bbox.left + u.bbox.width;
          ctx.textAlign = right ? "left" : "right";
          ctx.fillText("best", x + (right ? 14 : -14) * ratio, Y(p.median));
        }
      });
      ctx.restore();
      holder.setAttribute("data-dots", String(dots.length));
    }

    function hover(u) {
      var left = u.cursor.left, top = u.cursor.top, near = null, bestDist = 20 * 20;
      if (left == null || left < 0) { readout.textContent = ""; return; }
      dots.forEach(function (d) {
        var dist = (d.x - left) * (d.x - left) + (d.y - top) * (d.y - top);
        if (dist < bestDist) { bestDist = dist; near = d; }
      });
      readout.textContent = near ? "Run " + near.run.submission_id + ": " + describe(near.point.settings) + ", seed " + (near.run.seed_index + 1) +
        ", " + data.metric + " " + fmt(near.run.metric_value) + (near.point.best ? " (best configuration)" : "") : "";
    }

    var axisX = { label: name + (logX ? " (log scale)" : ""), stroke: "#1a1a1a", grid: { stroke: "#e5e7eb" } };
    if (!numeric) {
      axisX.splits = function () { return categories.map(function (_, i) { return i; }); };
      axisX.values = function (u, splits) { return splits.map(function (i) { return categories[i] || ""; }); };
    } else if (logX) {
      axisX.values = ticks;
    }
    var axisY = {
      label: data.metric + (logY ? " (log scale)" : "") + (data.lower_is_better ? ", lower is better" : ", higher is better"),
      stroke: "#1a1a1a", grid: { stroke: "#e5e7eb" }, size: 70,
    };
    if (logY) axisY.values = ticks;
    metricPlot = new uPlot({
      width: width(holder), height: height(holder),
      scales: {
        x: { time: false, distr: logX ? 3 : 1, range: function () { return xRange; } },
        y: { distr: logY ? 3 : 1, range: function () { return yRange; } },
      },
      axes: [axisX, axisY],
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      series: [{}, { stroke: "transparent", points: { show: false } }],
      hooks: { draw: [paint], setCursor: [hover] },
    }, [xRange.slice(), [null, null]], holder);
    holder.setAttribute("aria-label", "Dot chart of " + data.metric + " against " + name + (other ? ", coloured by " + other : ""));
    var best = bestPoint();
    var perValue = categories.map(function (value) {
      var at = points.filter(function (p) { return label(p.settings[name]) === value && finite(p.median); });
      if (!at.length) return null;
      var top = at.reduce(function (a, b) { return (data.lower_is_better ? b.median < a.median : b.median > a.median) ? b : a; });
      return value + ": " + fmt(top.median);
    }).filter(Boolean);
    caption.textContent = (best ? "Best: " + bestText(best) + ". " : "") +
      "Best " + data.metric + " at each " + name + ": " + perValue.join("; ") + ". " +
      (points.some(function (p) { return p.high > p.low; })
        ? "Each ring is a run, each filled dot a configuration's median; bars and shading span its seeds from lowest to highest."
        : "Each dot is a run.");
  }

  function pad(low, high) {
    var span = high - low || Math.abs(high) || 1;
    return [low - span * 0.08, high + span * 0.08];
  }

  // Configurations that differ only in ``name``, each sorted along it: joined by a line.
  function groups(points, name) {
    var byKey = {}, out = [];
    points.forEach(function (p) {
      var key = JSON.stringify(data.varying.filter(function (n) { return n !== name; }).map(function (n) { return p.settings[n]; }));
      if (!byKey[key]) { byKey[key] = []; out.push(byKey[key]); }
      byKey[key].push(p);
    });
    out.forEach(function (g) { g.sort(function (a, b) { return a.settings[name] - b.settings[name]; }); });
    return out;
  }

  // ---- The table: sortable by any column, without reloading -------------------------------------

  var sorted = { column: -1, dir: "ascending" };
  function key(cell) {
    var raw = (cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent).trim();
    if (raw === "" || raw === "—") return null;
    var n = Number(raw);
    return isFinite(n) ? n : raw.toLowerCase();
  }
  function applySort() {
    var column = sorted.column, sign = sorted.dir === "ascending" ? 1 : -1;
    if (column < 0) return;
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[column]), y = key(b.cells[column]);
      if (x === null || y === null) return x === y ? a.dataset.index - b.dataset.index : x === null ? 1 : -1;  // missing last
      if (typeof x !== typeof y) return typeof x === "number" ? -1 : 1;
      return (x < y ? -1 : x > y ? 1 : a.dataset.index - b.dataset.index) * sign;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  function sortable() {
    table.classList.add("sortable");
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
      if (th.hasAttribute("data-unsortable")) return;
      var button = el("button");
      button.type = "button";
      while (th.firstChild) button.appendChild(th.firstChild);
      th.appendChild(button);
      button.addEventListener("click", function () {
        sorted.dir = sorted.column === column && sorted.dir === "ascending" ? "descending" : "ascending";
        sorted.column = column;
        Array.prototype.forEach.call(table.tHead.rows[0].cells, function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", sorted.dir);
        applySort();
      });
    });
  }

  // The server renders the rows (states, links, weights): take its fresh copy when a run moves on.
  function refreshTable() {
    return fetch(location.pathname, { headers: { Accept: "text/html" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) { if (!response.ok) throw new Error("HTTP " + response.status); return response.text(); })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        var body = page.querySelector("#sweep-table tbody"), summary = page.getElementById("sweep-summary");
        if (body) table.replaceChild(document.importNode(body, true), table.tBodies[0]);
        if (summary) document.getElementById("sweep-summary").replaceWith(document.importNode(summary, true));
        applySort();
      })
      .catch(function () {});  // the next poll tries again; the progress line already says so if it persists
  }

  // ---- Polling ----------------------------------------------------------------------------------

  function draw() {
    if (!canDraw || !data) return;
    charts.hidden = false;
    drawCurves();
    drawMetric();
  }

  function failed(message, again) {
    progress.textContent = (data ? data.done + " of " + data.total + " runs finished. " : "") + message;
    if (again && !source) setTimeout(load, REFRESH_MS);
  }

  function load() {
    var have = Object.keys(held).map(function (id) { return held[id].result; }).join(",");
    var url = root.getAttribute("data-url") + (have ? "?have=" + have : "");
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 401) return failed("You are logged out: log in again, then reload this page to follow the sweep.", false);
        if (response.status === 404) return failed("This sweep is no longer visible to you: reload the page.", false);
        if (!response.ok) return failed("Could not refresh the runs (the server answered HTTP " + response.status + "); trying again in 3 s. Reload the page if this persists.", true);
        return response.json().then(update);
      })
      .catch(function () { failed("Could not reach the grader to refresh the runs; trying again in 3 s. Check your connection.", true); });
  }

  function keepCurves(fresh) {
    var kept = {};
    fresh.points.forEach(function (p) {
      p.runs.forEach(function (r) {
        var id = String(r.submission_id), sent = fresh.curves[id];
        if (r.result_id == null) return;  // not finished (or being regraded): nothing to hold
        if (sent) kept[id] = { result: r.result_id, curves: sent };
        else if (held[id] && held[id].result === r.result_id) kept[id] = held[id];
        else kept[id] = { result: r.result_id, curves: {} };  // a result without these curves
      });
    });
    held = kept;
    fresh.curves = {};
    Object.keys(held).forEach(function (id) { fresh.curves[id] = held[id].curves; });
  }

  function update(fresh) {
    keepCurves(fresh);
    var now = fresh.points.map(function (p) { return p.runs.map(function (r) { return r.state + ","; }).join(""); }).join("");
    var changed = now !== states;
    data = fresh;
    states = now;
    progress.textContent = data.done + " of " + data.total + " runs finished." + (data.done < data.total ? " The page follows them as they finish." : "");
    if (changed) refreshTable();
    if (changed || !curvesPlot && !metricPlot) draw();
    if (data.done < data.total && !source) setTimeout(load, REFRESH_MS);
    if (data.done >= data.total && source) { source.close(); source = null; }
  }

  function follow() {
    var url = root.getAttribute("data-events-url");
    if (!window.EventSource || !url) return false;
    source = new EventSource(url);
    source.onmessage = function (event) {
      var counts = JSON.parse(event.data);
      load();
      if (counts.done >= counts.total) { source.close(); source = null; }
    };
    // CONNECTING: EventSource reconnects by itself (the server ends each stream at a time cap).
    // CLOSED: refused (204) or failed for good: poll instead.
    source.onerror = function () {
      if (source && source.readyState === EventSource.CLOSED) { source = null; setTimeout(load, REFRESH_MS); }
    };
    return true;
  }

  sortable();
  if (canDraw) {
    seriesSelect.addEventListener("change", function () { if (data) drawCurves(); });
    settingSelect.addEventListener("change", draw);
    var pending = null;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(function () {
        [["curves-chart", curvesPlot], ["metric-chart", metricPlot]].forEach(function (pair) {
          var holder = document.getElementById(pair[0]);
          if (pair[1]) pair[1].setSize({ width: width(holder), height: height(holder) });
        });
      }, 100);
    });
  }
  if (!follow()) load();  // the stream's first event says where the runs are: it loads then
})();
