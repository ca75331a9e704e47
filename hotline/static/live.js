// Live updates: a connection dot in the top bar, and a notice for every case
// change this person should see. Pages listen for the "hotline:case" event on
// window to refresh what they show.
(function () {
  "use strict";
  // Countdowns: every due time shows what is left, amber from the warning
  // share of its stage's time and red past the deadline.
  var words = document.getElementById("live-notices");
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function tick() {
    var now = Date.now() / 1000;
    var marks = document.querySelectorAll(".due[data-due]");
    for (var i = 0; i < marks.length; i++) {
      var mark = marks[i];
      var due = Date.parse(mark.dataset.due) / 1000;
      var left = Math.round(due - now);
      var span = Math.abs(left);
      var text = Math.floor(span / 3600) + ":" + pad(Math.floor(span % 3600 / 60));
      mark.classList.toggle("breach", left < 0);
      mark.classList.toggle("warn", left >= 0 && now >= Number(mark.dataset.warn));
      var out = mark.querySelector(".left");
      if (out && words) {
        out.textContent = " (" + (left < 0 ? words.dataset.over : words.dataset.left) + " " + text + ")";
      }
    }
  }
  tick();
  window.setInterval(tick, 30000);

  var dot = document.getElementById("live-dot");
  var box = document.getElementById("live-notices");
  if (!window.io || !dot) { return; }
  var socket = window.io("/live", { transports: ["websocket", "polling"] });
  function mark(state, title) {
    dot.className = "live-dot " + state;
    dot.title = title;
  }
  socket.on("connect", function () { mark("on", dot.dataset.on); });
  socket.on("disconnect", function () { mark("off", dot.dataset.off); });
  socket.on("connect_error", function () { mark("off", dot.dataset.off); });
  var reloading = null;
  socket.on("case", function (payload) {
    window.dispatchEvent(new CustomEvent("hotline:case", { detail: payload }));
    // Boards refresh themselves when something they show changed.
    if (document.body.dataset.liveReload && !reloading) {
      reloading = window.setTimeout(function () { window.location.reload(); }, 1500);
    }
    if (!box) { return; }
    var item = document.createElement("li");
    if (payload.case) {
      var link = document.createElement("a");
      link.href = "/cases/" + encodeURIComponent(payload.case);
      link.textContent = box.dataset.label + " " + payload.case + " · " + payload.action;
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
