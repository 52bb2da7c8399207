// Draws the per-subset charts of a fallbackwatch replay report from the JSON in #chart-data.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  var css = getComputedStyle(document.documentElement);
  function color(name) { return css.getPropertyValue(name).trim(); }
  var outcomes = [
    ["requests", "requests", "--total"],
    ["routed", "served as routed", "--routed"],
    ["fallback_success", "fell back and served", "--fellback"],
    ["fallback_failed", "fallback failed", "--failed"],
    ["no_fallback_uh", "no fallback, 503 UH", "--uh"],
    ["other", "other (503 NC)", "--other"]
  ];
  var long = data.max - data.min > 2 * 86400;
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  // clock labels a time axis tick in UTC, as the rest of the report does.
  function clock(ts) {
    var d = new Date(ts * 1e3);
    var hm = pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
    return long ? (d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " + hm : hm;
  }
  var plots = [];
  document.querySelectorAll("div.chart").forEach(function (el) {
    var c = data.charts[Number(el.getAttribute("data-chart"))];
    var cols = [c.x];
    var series = [{}];
    var plotted = 0, requests = 0;
    outcomes.forEach(function (o) {
      var col = c[o[0]];
      if (!col) return;
      cols.push(col);
      series.push({ label: o[1], stroke: color(o[2]), width: o[0] === "requests" ? 1 : 2,
        dash: o[0] === "requests" ? [4, 3] : undefined, points: { show: false } });
      for (var i = 0; i < col.length; i++) {
        if (o[0] === "requests") requests += col[i]; else plotted += col[i];
      }
    });
    var opts = {
      width: Math.max(el.clientWidth, 300), height: 200, series: series,
      scales: { x: { time: true, min: data.min, max: data.max } },
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); },
      axes: [{ values: function (u, splits) { return splits.map(clock); } },
        { label: "requests / " + data.bucket, size: 56 }],
      cursor: { drag: { x: true, y: false } }
    };
    plots.push([el, new uPlot(opts, cols, el)]);
    el.setAttribute("data-plotted-outcomes", String(plotted));
    el.setAttribute("data-plotted-requests", String(requests));
  });
  window.addEventListener("resize", function () {
    plots.forEach(function (p) { p[1].setSize({ width: Math.max(p[0].clientWidth, 300), height: 200 }); });
  });
  document.body.setAttribute("data-charts-drawn", String(plots.length));
})();
