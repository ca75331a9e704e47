// Live updates: a connection dot in the top bar, and a notice for every case
// change this person should see. Pages listen for the "hotline:case" event on
// window to refresh what they show.
(function () {
  "use strict";
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
  socket.on("case", function (payload) {
    window.dispatchEvent(new CustomEvent("hotline:case", { detail: payload }));
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
