// PoCNet console: live countdowns, local times, and the alarm fed by server-sent events.
// No inline script anywhere (CSP script-src 'self'); text is inserted with textContent only.
"use strict";
(function () {
  function fmt(seconds) {
    var s = Math.abs(Math.floor(seconds)), d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600),
        m = Math.floor(s % 3600 / 60), r = s % 60;
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + String(m).padStart(2, "0") + "m";
    if (m) return m + "m " + String(r).padStart(2, "0") + "s";
    return r + "s";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown").forEach(function (el) {
      var left = (Date.parse(el.dataset.deadline) - now) / 1000;
      el.textContent = el.dataset.label + (left > 0 ? " in " : " since ") + fmt(left);
      el.closest("tr").classList.toggle("overdue", left <= 0 && el.dataset.label === "OVERDUE");
    });
  }
  function localTimes() {
    document.querySelectorAll("time.local").forEach(function (el) {
      var t = new Date(el.getAttribute("datetime"));
      if (!isNaN(t)) el.title = "your time: " + t.toLocaleString();
      if (!isNaN(t)) el.textContent = el.getAttribute("datetime") + " · yours " + t.toLocaleString();
    });
  }
  var alarms = [], enabled = false, audio = null, repeat = null;
  function beep() {
    if (!enabled) return;
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var o = audio.createOscillator(), g = audio.createGain();
      o.frequency.value = 880; o.connect(g); g.connect(audio.destination);
      g.gain.value = 0.2; o.start(); o.stop(audio.currentTime + 0.6);
    } catch (e) { /* no audio device */ }
  }
  function notify() {
    if (!("Notification" in window) || Notification.permission !== "granted" || !alarms.length) return;
    var a = alarms[0];
    new Notification("PoCNet: " + a.priority.toUpperCase() + " " + a.kind, {
      body: (a.direction === "out" ? "to " : "from ") + a.counterpart + ": " + a.what, tag: "pocnet-alarm"
    });
  }
  function ring() { if (alarms.length) { beep(); notify(); } }
  function render(list) {
    alarms = list;
    var box = document.getElementById("alarm"), ul = document.getElementById("alarm-list");
    if (!box || !ul) return;
    ul.replaceChildren();
    list.forEach(function (a) {
      var li = document.createElement("li"), link = document.createElement("a");
      link.href = "/messages/" + a.msg_id;
      link.textContent = a.priority.toUpperCase() + " " + a.kind + (a.direction === "out" ? " to " : " from ") +
        a.counterpart + ": " + a.what;
      li.appendChild(link);
      var extra = (a.phone ? " · call " + a.phone : "") + (a.local_time ? " · their time " + a.local_time : "");
      if (extra) li.appendChild(document.createTextNode(extra));
      ul.appendChild(li);
    });
    box.hidden = list.length === 0;
    box.dataset.count = String(list.length);
    if (repeat) { clearInterval(repeat); repeat = null; }
    if (list.length) { ring(); repeat = setInterval(ring, 30000); }
  }
  function live() {
    if (!window.EventSource) return;
    var es = new EventSource("/events");
    es.addEventListener("alarms", function (ev) {
      var data = JSON.parse(ev.data);
      render(data.alarms);
      var board = document.getElementById("board");
      if (board && board.dataset.seen && board.dataset.seen !== ev.data) location.reload();
      if (board) board.dataset.seen = ev.data;
    });
    es.addEventListener("logout", function () { es.close(); location.href = "/login"; });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var btn = document.getElementById("alarm-enable");
    if (btn) btn.addEventListener("click", function () {
      enabled = true;
      if ("Notification" in window && Notification.permission === "default") Notification.requestPermission();
      ring();
    });
    tick(); setInterval(tick, 1000); localTimes(); live();
  });
})();
