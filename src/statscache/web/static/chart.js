// An interactive chart over the server's SVG, drawn with the vendored uPlot when it is there.
//
// The statistic page names the rows of its chart as JSON (data-chart-json: the same window and
// roll-up as the SVG, oldest first). Counters and distinct counts become lines, one per key for a
// keyed counter (the five largest, or the page's top N, the rest summed as "other", as the SVG does). Without uPlot, or
// for the release-engineering timeline, the SVG stays.
(function () {
  "use strict";
  var TOP = 5;  // as the SVG: the five largest keys, then "other"
  var COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"];
  var page = document.getElementById("page");
  if (page && Number(page.dataset.top) > 0) TOP = Number(page.dataset.top);
  if (!page || !window.uPlot || !page.dataset.chartJson || page.dataset.kind === "latest") return;
  var plot = null;

  function series(rows, columns) {
    var value = columns[columns.length - 1];
    var key = columns.length > 2 ? columns[1] : null;
    var times = [];
    var seen = {};
    rows.forEach(function (row) { if (!seen[row.timestamp]) { seen[row.timestamp] = 1; times.push(row.timestamp); } });
    times.sort(function (a, b) { return a - b; });
    var index = {};
    times.forEach(function (t, i) { index[t] = i; });
    var lines = {};
    var totals = {};
    rows.forEach(function (row) {
      var name = key ? String(row[key]) : value;
      totals[name] = (totals[name] || 0) + row[value];
      (lines[name] = lines[name] || {})[row.timestamp] = row[value];
    });
    var names = Object.keys(totals).sort(function (a, b) { return totals[b] - totals[a] || (a < b ? -1 : 1); });
    var kept = names.slice(0, TOP);
    var data = [times];
    kept.forEach(function (name) {
      data.push(times.map(function (t) { return lines[name][t] || 0; }));
    });
    if (names.length > TOP) {
      var other = times.map(function () { return 0; });
      names.slice(TOP).forEach(function (name) {
        Object.keys(lines[name]).forEach(function (t) { other[index[t]] += lines[name][t]; });
      });
      kept.push("other");
      data.push(other);
    }
    return { names: kept, data: data, points: times.length };
  }

  function plain(figure) {
    if (plot) { plot.destroy(); plot = null; }
    figure.querySelectorAll(".uplot-host").forEach(function (node) { node.remove(); });
    figure.classList.remove("enhanced");
  }

  function draw() {
    var figure = document.querySelector("#live figure.chart");
    if (!figure) return;
    var columns = (page.dataset.columns || "").split(",");
    fetch(page.dataset.chartJson, { cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        // One page holds the whole window, or the SVG (which draws every row) stays.
        return response.ok && response.headers.get("X-Link-Count") === "1" ? response.json() : null;
      })
      .then(function (rows) {
        if (!rows || !rows.length) return plain(figure);  // the SVG (fresh with the page) is right
        var made = series(rows, columns);
        var host = document.createElement("div");
        host.className = "uplot-host";
        var width = Math.max(280, figure.clientWidth - 16);
        var options = {
          width: width,
          height: Math.round(Math.min(320, Math.max(200, width * 0.4))),
          series: [{}].concat(made.names.map(function (name, i) {
            return { label: name, stroke: name === "other" ? "#888" : COLOURS[i % COLOURS.length], width: 1.5 };
          })),
          axes: [{ stroke: "currentColor", grid: { stroke: "rgba(128,128,128,0.2)" } },
                 { stroke: "currentColor", grid: { stroke: "rgba(128,128,128,0.2)" } }],
          scales: { x: { time: true } },
          tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
        };
        if (plot) plot.destroy();
        figure.querySelectorAll(".uplot-host").forEach(function (node) { node.remove(); });
        figure.appendChild(host);
        plot = new uPlot(options, made.data, host);
        host.dataset.points = String(made.points);
        host.dataset.series = String(made.names.length);
        figure.classList.add("enhanced");
      })
      .catch(function () { plain(figure); });
  }

  draw();
  document.addEventListener("statscache:refreshed", draw);
})();
