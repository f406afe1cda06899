// pyresque dashboard: progressive enhancement only. Every page and action works without it.
// Loaded from 'self' (the CSP allows no inline script); it never builds HTML from data
// (textContent only), so nothing it shows can become markup.
"use strict";

document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

function drawRates(canvas, points) {
  var ctx = canvas.getContext("2d");
  var w = canvas.width, h = canvas.height, pad = 24;
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = "#ccc";
  ctx.lineWidth = 1;
  ctx.strokeRect(pad, 4, w - pad - 4, h - pad);
  if (!points || points.length < 1) {
    ctx.fillStyle = "#888";
    ctx.font = "12px sans-serif";
    ctx.fillText("collecting samples…", pad + 8, h / 2);
    return;
  }
  var max = 0.001;
  points.forEach(function (p) { max = Math.max(max, p.processed_per_s, p.failed_per_s); });
  var t0 = points[0].at, t1 = points[points.length - 1].at;
  var span = Math.max(1, t1 - t0);
  function x(p) { return pad + (w - pad - 8) * (points.length === 1 ? 1 : (p.at - t0) / span); }
  function y(v) { return 4 + (h - pad - 4) * (1 - v / max); }
  [["processed_per_s", "#2a7ab0"], ["failed_per_s", "#c0392b"]].forEach(function (series) {
    ctx.strokeStyle = series[1];
    ctx.lineWidth = 2;
    ctx.beginPath();
    points.forEach(function (p, i) {
      if (i === 0) { ctx.moveTo(x(p), y(p[series[0]])); } else { ctx.lineTo(x(p), y(p[series[0]])); }
    });
    ctx.stroke();
  });
  ctx.fillStyle = "#555";
  ctx.font = "11px sans-serif";
  ctx.fillText(max.toFixed(2) + "/s", 2, 14);
}

function refreshOverview(box) {
  var url = box.getAttribute("data-api");
  fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
    .then(function (resp) { return resp.ok ? resp.json() : null; })
    .then(function (data) {
      if (!data) { return; }
      box.querySelectorAll("[data-field]").forEach(function (el) {
        var name = el.getAttribute("data-field");
        var value = name === "working_count" ? data.working.length : data[name];
        if (value !== undefined) { el.textContent = String(value); }
      });
      document.querySelectorAll("canvas[data-resolution]").forEach(function (canvas) {
        drawRates(canvas, data.rates[canvas.getAttribute("data-resolution")]);
      });
      var recent = data.rates["10s"];
      var now = document.getElementById("rate-now");
      if (now && recent && recent.length) {
        var last = recent[recent.length - 1];
        now.textContent = last.processed_per_s + " processed, " + last.failed_per_s + " failed";
      }
      document.body.setAttribute("data-refreshed", String(Date.now()));
    })
    .catch(function () { /* the next poll tries again */ });
}

document.addEventListener("DOMContentLoaded", function () {
  var box = document.getElementById("totals");
  if (box) {
    refreshOverview(box);
    window.setInterval(function () { refreshOverview(box); }, 5000);
  }
});
