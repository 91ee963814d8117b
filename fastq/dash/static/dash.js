// fastq dashboard: live numbers from the server's event stream, and small helpers.
// No inline script anywhere (the CSP forbids it); this file only sets textContent.
"use strict";
(function () {
  var body = document.body;
  var KEY = "fastq-dash-live";
  var source = null;
  var prev = null;
  var seq = 0;

  function fmtDuration(s) {
    s = Number(s);
    if (s < 10) return s.toFixed(1) + "s";
    if (s < 60) return Math.round(s) + "s";
    var m = Math.floor(s / 60);
    if (m < 60) return m + "m" + Math.floor(s % 60) + "s";
    var h = Math.floor(m / 60);
    return h < 48 ? h + "h" + (m % 60) + "m" : Math.floor(h / 24) + "d" + (h % 24) + "h";
  }

  function show(el, value) {
    var text = el.dataset.fmt === "duration" ? fmtDuration(value) : String(value);
    if (el.textContent !== text) el.textContent = text;
  }

  function own(obj, key) {
    return obj && Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
  }

  function apply(data) {
    // a sample taken before this page was rendered is older than what it shows
    if (data.at < Number(body.dataset.renderedAt || 0)) return;
    var status = document.getElementById("live-status");
    if (status) status.className = data.error ? "live down" : "live";
    document.querySelectorAll("[data-live-q]").forEach(function (el) {
      var v = own(own(data.queues, el.dataset.liveQ), el.dataset.liveF);
      if (v !== undefined) show(el, v);
    });
    document.querySelectorAll("[data-live-total]").forEach(function (el) {
      var v = own(data.totals, el.dataset.liveTotal);
      if (v !== undefined) show(el, v);
    });
    document.querySelectorAll("[data-live-rate]").forEach(function (el) {
      show(el, data.rate[el.dataset.liveRate]);
    });
    seq += 1;
    document.querySelectorAll("img[data-refresh]").forEach(function (img) {
      var every = Number(img.dataset.refresh) || 1;
      if (seq % every !== 0) return;
      var base = img.dataset.src || img.getAttribute("src");
      img.dataset.src = base;
      img.src = base + (base.indexOf("?") < 0 ? "?" : "&") + "t=" + data.seq;
    });
    refreshTable(data);
    prev = data;
  }

  // The queue page's task table reloads when its state's count changes, unless the
  // user is selecting rows.
  function refreshTable(data) {
    var q = body.dataset.queue, st = body.dataset.state, box = document.getElementById("tasks");
    if (!box || q === undefined || !prev) return;
    var before = own(own(prev.queues, q), st), now = own(own(data.queues, q), st);
    if (before === undefined || before === now) return;
    if (box.querySelector("input[name=id]:checked")) return;
    fetch(location.href, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("tasks");
        if (fresh) { box.replaceWith(document.adoptNode(fresh)); wireSelectAll(); localTimes(); }
      });
  }

  function connect() {
    if (source || !window.EventSource) return;
    source = new EventSource(body.dataset.events);
    source.addEventListener("sample", function (ev) { apply(JSON.parse(ev.data)); });
    source.onerror = function () {
      var s = document.getElementById("live-status");
      if (s) s.className = "live down";
    };
  }

  function disconnect() {
    if (source) { source.close(); source = null; }
  }

  function setPaused(paused) {
    var btn = document.getElementById("live-toggle");
    var s = document.getElementById("live-status");
    try { localStorage.setItem(KEY, paused ? "paused" : "live"); } catch (e) { /* private mode */ }
    if (btn) {
      btn.textContent = paused ? "Resume updates" : "Pause updates";
      btn.setAttribute("aria-pressed", paused ? "true" : "false");
    }
    if (s) s.className = paused ? "live paused" : "live";
    if (paused) disconnect(); else connect();
  }

  function wireSelectAll() {
    var all = document.getElementById("select-all");
    if (!all) return;
    all.addEventListener("change", function () {
      document.querySelectorAll("#selection input[name=id]").forEach(function (cb) {
        cb.checked = all.checked;
      });
    });
  }

  function localTimes() {
    document.querySelectorAll("time[datetime]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) { t.title = t.textContent; t.textContent = d.toLocaleString(); }
    });
  }

  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest ? ev.target.closest("button[data-copy]") : null;
    if (!btn || !navigator.clipboard) return;
    navigator.clipboard.writeText(btn.dataset.copy).then(function () {
      btn.textContent = "✓";
      setTimeout(function () { btn.textContent = "⧉"; }, 1200);
    });
  });

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      ev.preventDefault();
    }
  });

  var btn = document.getElementById("live-toggle");
  if (btn) btn.addEventListener("click", function () { setPaused(source !== null); });
  wireSelectAll();
  localTimes();
  var stored = null;
  try { stored = localStorage.getItem(KEY); } catch (e) { /* private mode */ }
  setPaused(stored === "paused");
})();
