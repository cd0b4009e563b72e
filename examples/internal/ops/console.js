// The operator console: figures from /console/events, once a second. No
// dependency, nothing fetched from elsewhere.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var FUNNEL = ["offered", "delivered", "shown", "accepted"];
  var OUTCOMES = ["accepted", "rejected", "timeout", "closed", "cancelled", "expired", "suppressed"];
  var WINDOW = 300; // seconds of the rate chart
  var history = []; // {t, engage, delivered, accepted}: cumulative counts

  function $(id) { return document.getElementById(id); }
  function text(id, v) { $(id).textContent = String(v); }
  function el(name, attrs, parent) {
    var e = document.createElementNS(SVG, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    parent.appendChild(e);
    return e;
  }
  function count(c, k) { return c[k] || 0; }

  function requests(c) {
    var engage = 0, noengage = 0, faults = 0;
    for (var k in c) {
      var parts = k.split(" ");
      if (parts.length !== 2) continue;
      if (parts[1] !== "OK") faults += c[k];
      else if (parts[0] === "engage") engage += c[k];
      else if (parts[0] === "noengage") noengage += c[k];
    }
    return { engage: engage, noengage: noengage, faults: faults };
  }

  function drawFunnel(c) {
    var svg = $("funnel");
    svg.textContent = "";
    var top = Math.max(1, count(c, "offered"), count(c, "delivered"));
    FUNNEL.forEach(function (stage, i) {
      var n = count(c, stage), y = 10 + i * 60, w = Math.round(440 * n / top);
      el("text", { x: 0, y: y + 27 }, svg).textContent = stage;
      el("rect", { class: "bar", x: 90, y: y, width: Math.max(w, 1), height: 40, rx: 4, id: "bar-" + stage }, svg);
      el("text", { x: 96 + w, y: y + 27 }, svg).textContent = String(n);
    });
    var out = $("outcomes");
    out.textContent = "";
    OUTCOMES.forEach(function (o) {
      var d = document.createElement("div");
      var dt = document.createElement("dt"); dt.textContent = o;
      var dd = document.createElement("dd"); dd.id = "count-" + o; dd.textContent = String(count(c, o));
      d.appendChild(dt); d.appendChild(dd); out.appendChild(d);
    });
  }

  function drawRates() {
    var svg = $("rate");
    svg.textContent = "";
    el("line", { class: "axis", x1: 30, y1: 140, x2: 600, y2: 140 }, svg);
    var series = ["delivered", "accepted", "engage"], rates = {}, top = 1;
    series.forEach(function (s) {
      rates[s] = [];
      for (var i = 1; i < history.length; i++) {
        var dt = (history[i].t - history[i - 1].t) / 1000 || 1;
        var r = Math.max(0, history[i][s] - history[i - 1][s]) / dt;
        rates[s].push({ t: history[i].t, r: r });
        top = Math.max(top, r);
      }
    });
    el("text", { x: 0, y: 14 }, svg).textContent = top.toFixed(top < 10 ? 1 : 0);
    el("text", { x: 0, y: 140 }, svg).textContent = "0";
    var now = history.length ? history[history.length - 1].t : 0;
    // The axis spans what the console has seen, from 10 s to WINDOW.
    var span = history.length ? Math.min(WINDOW * 1000, Math.max(10000, now - history[0].t)) : WINDOW * 1000;
    el("text", { x: 30, y: 156 }, svg).textContent = "−" + Math.round(span / 1000) + " s";
    el("text", { x: 570, y: 156 }, svg).textContent = "now";
    series.forEach(function (s) {
      var pts = rates[s].map(function (p) {
        var x = 30 + 570 * (1 - (now - p.t) / span);
        return x.toFixed(1) + "," + (140 - 130 * p.r / top).toFixed(1);
      });
      if (pts.length > 1) el("polyline", { class: s, points: pts.join(" ") }, svg);
    });
  }

  function addEvents(events) {
    var body = $("events");
    (events || []).forEach(function (ev) {
      var tr = document.createElement("tr");
      [new Date(ev.t).toLocaleTimeString(), ev.what, ev.visit || "", ev.interaction || ""].forEach(function (v) {
        var td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
      });
      body.insertBefore(tr, body.firstChild);
    });
    while (body.children.length > 20) body.removeChild(body.lastChild);
  }

  function update(s) {
    text("gauge-streams", s.gauges.streams);
    text("gauge-live", s.gauges.live);
    text("gauge-tombstones", s.gauges.tombstones);
    var r = requests(s.counts);
    text("count-engage", r.engage);
    text("count-noengage", r.noengage);
    text("count-faults", r.faults);
    history.push({ t: s.t, engage: r.engage, delivered: count(s.counts, "delivered"), accepted: count(s.counts, "accepted") });
    while (history.length && history[0].t < s.t - WINDOW * 1000) history.shift();
    drawFunnel(s.counts);
    drawRates();
    addEvents(s.events);
    text("status", "live, updated " + new Date(s.t).toLocaleTimeString());
  }

  // An EventSource retries a stream that ends, but gives up for good on
  // an answer that is not 200 (the instance has as many console streams
  // open as it allows, or it is restarting): then open a new one later.
  var RETRY = 5000; // ms; what the 503 says in Retry-After
  function connect() {
    var es = new EventSource("/console/events");
    es.onmessage = function (e) {
      var s;
      try { s = JSON.parse(e.data); } catch (err) { return; }
      update(s);
    };
    es.onerror = function () {
      if (es.readyState !== EventSource.CLOSED) {
        text("status", "reconnecting…");
        return;
      }
      text("status", "disconnected; trying again in " + RETRY / 1000 + " s");
      setTimeout(connect, RETRY);
    };
  }
  connect();
})();
