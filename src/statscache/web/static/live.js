// Live updates: follow /api/<ident>/stream and re-render the page's live part from the server.
//
// The server renders every page whole; on each "rows" event this fetches the same URL again and
// swaps in its #live element, so the table, the chart and the dashboard stay exactly what the
// server would show (windows, roll-ups and the layout are applied in one place, in Python).
(function () {
  "use strict";
  var page = document.getElementById("page");
  if (!page || !page.dataset.stream || !window.EventSource || !window.fetch) return;

  var busy = false;
  var again = false;
  var timer = null;
  var shown = null;  // the object URL of the chart on screen, once live

  function say(text) {
    var node = document.querySelector("#live .live-state");
    if (node) node.textContent = text;
  }

  function freshChart(root) {
    // The chart's URL does not change while its rows do: fetch it past the cache.
    var img = root.querySelector("#chart-svg");
    if (!img) return Promise.resolve();
    return fetch(img.dataset.src || img.getAttribute("src"), { cache: "no-store" })
      .then(function (response) { return response.ok ? response.blob() : null; })
      .then(function (blob) {
        if (!blob) return;
        if (shown) URL.revokeObjectURL(shown);  // the picture it showed is gone with the old node
        shown = URL.createObjectURL(blob);
        img.src = shown;
      });
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(window.location.href, { cache: "no-store", headers: { Accept: "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) return null;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        var current = document.getElementById("live");
        if (!fresh || !current) return null;
        // The new chart keeps showing the picture on screen until its own arrives: importing an
        // image with the API's URL would start a load that freshChart's would then cancel.
        var before = current.querySelector("#chart-svg");
        var after = fresh.querySelector("#chart-svg");
        if (before && after) {
          after.dataset.src = after.getAttribute("src");
          after.setAttribute("src", before.getAttribute("src"));
        }
        var node = document.importNode(fresh, true);
        current.replaceWith(node);
        // Likewise the interactive chart stays until chart.js has drawn the new one.
        var drawn = current.querySelector(".uplot-host");
        var figure = node.querySelector("figure.chart");
        if (drawn && figure) {
          figure.appendChild(drawn);
          figure.classList.add("enhanced");
        }
        say("· live");
        document.dispatchEvent(new CustomEvent("statscache:refreshed", { detail: node }));
        return freshChart(node);
      })
      .catch(function () { say("· update failed, retrying"); })
      .then(function () {
        // At most one re-render a second, however often the statistic flushes.
        setTimeout(function () {
          busy = false;
          if (again) { again = false; refresh(); }
        }, 1000);
      });
  }

  var source = new EventSource(page.dataset.stream);
  source.addEventListener("open", function () {
    say("· live");
    // A flush between this page's render and the stream's first look is in neither: look again
    // once the stream has taken its snapshot.
    clearTimeout(timer);
    timer = setTimeout(refresh, 500);
  });
  source.addEventListener("error", function () { say("· reconnecting"); });
  source.addEventListener("rows", function (event) {
    var data = {};
    try { data = JSON.parse(event.data); } catch (ignored) { return; }
    var live = document.getElementById("live");
    if (live && String(data.updated) === live.dataset.updated) return;  // already showing it
    clearTimeout(timer);
    timer = setTimeout(refresh, 150);  // one re-render for a burst of flushes
  });
  window.addEventListener("pagehide", function () { source.close(); });
})();
