// The case page tells the server which change it showed, once it is on screen
// (a page opened in a background tab waits until it is looked at): changes up
// to that one no longer count as unread on the person's lists. Opening the
// page writes nothing by itself; this small POST does.
(function () {
  "use strict";
  var mark = document.getElementById("case-seen");
  if (!mark || !window.fetch) { return; }
  var sent = false;
  function send() {
    if (sent || document.visibilityState === "hidden") { return; }
    sent = true;
    document.removeEventListener("visibilitychange", send);
    var body = new URLSearchParams();
    body.set("seq", mark.dataset.seq);
    window.fetch(mark.dataset.url, {
      method: "POST",
      credentials: "same-origin",
      keepalive: true,
      headers: { "Accept": "application/json", "X-CSRFToken": mark.dataset.csrf },
      body: body
    }).then(function (response) {
      if (!response.ok && window.console) {
        window.console.warn("marking the case as read: HTTP " + response.status);
      }
    }, function (error) {
      if (window.console) { window.console.warn(error); }
    });
  }
  document.addEventListener("visibilitychange", send);
  send();
})();
