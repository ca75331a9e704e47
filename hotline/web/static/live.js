// Live updates: a connection dot in the top bar, and a notice for every case
// change this person should see. Pages listen for the "hotline:case" event on
// window to refresh what they show (the dispatch board, dispatch/web/static/
// board.js, moves the changed card); pages marked body[data-live-reload]
// reload. window.hotlineTick(root) brings the countdowns under root up to date.
(function () {
  "use strict";
  // Countdowns: every due time shows what is left. The server gives the
  // instants (data-due, data-warn, data-resume: when a paused clock runs
  // again, in seconds); the colour switches at them: paused until the
  // resume instant, amber from the warning, red from the due time.
  var words = document.getElementById("live-notices");
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function instant(value) { return value === undefined || value === "" ? null : Number(value); }
  function tick(root) {
    var now = Date.now() / 1000;
    var marks = (root || document).querySelectorAll(".due[data-due]");
    for (var i = 0; i < marks.length; i++) {
      var mark = marks[i];
      var due = Date.parse(mark.dataset.due) / 1000;
      var warn = instant(mark.dataset.warn);
      var resume = instant(mark.dataset.resume);
      var paused = resume !== null && now < resume;
      // A paused clock stands still: what is left is counted from when it runs again.
      var left = Math.round(due - (paused ? resume : now));
      var span = Math.abs(left);
      var text = Math.floor(span / 3600) + ":" + pad(Math.floor(span % 3600 / 60));
      mark.classList.toggle("paused", paused);
      mark.classList.toggle("breach", !paused && now >= due);
      mark.classList.toggle("warn", !paused && now < due && warn !== null && now >= warn);
      var out = mark.querySelector(".left");
      if (out && words) {
        out.textContent = " (" + (left < 0 ? words.dataset.over : words.dataset.left) + " " + text + ")";
      }
    }
  }
  tick();
  window.setInterval(function () { tick(); }, 30000);
  window.hotlineTick = tick;

  // -- the connection ---------------------------------------------------------------------
  var dot = document.getElementById("live-dot");
  var box = document.getElementById("live-notices");
  if (!window.io || !dot) { return; }
  // Live updates may come from a process of their own (data-url: its origin);
  // the login cookie goes with the connection either way.
  var options = { transports: ["websocket", "polling"], withCredentials: true };
  var socket = dot.dataset.url ? window.io(dot.dataset.url + "/live", options) : window.io("/live", options);
  function mark(state, title) {
    dot.className = "live-dot " + state;
    dot.title = title;
  }
  var connectedBefore = false;
  socket.on("connect", function () {
    mark("on", dot.dataset.on);
    // Changes made while the connection was down were never sent: a board
    // that was cut off reloads once (spread over ten seconds).
    if (connectedBefore && document.body.dataset.liveReload) {
      window.setTimeout(function () { window.location.reload(); }, Math.random() * 10000);
    }
    connectedBefore = true;
  });
  socket.on("disconnect", function () { mark("off", dot.dataset.off); });
  socket.on("connect_error", function () { mark("off", dot.dataset.off); });
  var reloading = null;
  socket.on("case", function (payload) {
    window.dispatchEvent(new CustomEvent("hotline:case", { detail: payload }));
    if (document.body.dataset.liveReload && !reloading) {
      // Other boards refresh themselves when something they show changed.
      reloading = window.setTimeout(function () { window.location.reload(); }, 1500);
    }
    if (!box) { return; }
    var item = document.createElement("li");
    if (payload.case) {
      var link = document.createElement("a");
      link.href = "/cases/" + encodeURIComponent(payload.case);
      // The action by its name in the page's language, never its code.
      var names = JSON.parse(dot.dataset.actions || "{}");
      var what = names[payload.action];
      link.textContent = box.dataset.label + " " + payload.case + (what ? " · " + what : "");
      item.appendChild(link);
    } else if (payload.action === "duty_alarm") {
      // P1: the dispatch center has nobody on duty this hour.
      item.className = "alarm";
      item.textContent = box.dataset.dutyAlarm;
    } else {
      return;
    }
    box.prepend(item);
    while (box.children.length > 5) { box.removeChild(box.lastChild); }
  });
  window.hotlineSocket = socket;
})();
