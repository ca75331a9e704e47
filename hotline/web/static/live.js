// Live updates: a connection dot in the top bar, and a notice for every case
// change this person should see. Pages listen for the "hotline:case" event on
// window to refresh what they show. The dispatch board (body[data-board])
// fetches the changed case's row and puts it in place; other boards
// (body[data-live-reload]) reload.
(function () {
  "use strict";
  // Countdowns: every due time shows what is left. The server gives the
  // instants (data-due, data-warn, data-resume: when a paused clock runs
  // again, in seconds); the colour switches at them: paused until the
  // resume instant, amber from the warning, red from the due time.
  var words = document.getElementById("live-notices");
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function instant(value) { return value === undefined || value === "" ? null : Number(value); }
  function tick() {
    var now = Date.now() / 1000;
    var marks = document.querySelectorAll(".due[data-due]");
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
  window.setInterval(tick, 30000);

  // -- the dispatch board: one row at a time ---------------------------------------------
  var board = document.body.dataset.board;
  var cardBase = board ? board.slice(0, board.lastIndexOf("/") + 1) : "";
  var fetching = {};  // case number -> true while its card is on the way, "again" if it changed since

  function rowOf(number) {
    var rows = document.querySelectorAll("tr[data-case]");
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].dataset.case === number) { return rows[i]; }
    }
    return null;
  }
  // Most urgent first, as the server lists them: by deadline (none last), then newest.
  function before(a, b) {
    var da = a.dataset.dueTs === "" ? Infinity : Number(a.dataset.dueTs);
    var db = b.dataset.dueTs === "" ? Infinity : Number(b.dataset.dueTs);
    if (da !== db) { return da < db; }
    return Number(a.dataset.id) > Number(b.dataset.id);
  }
  function showEmpty(body) {
    var empty = body.querySelector("tr.board-empty");
    var rows = body.querySelectorAll("tr[data-case]").length;
    if (rows && empty) { body.removeChild(empty); }
    if (!rows && !empty) {
      empty = document.createElement("tr");
      empty.className = "board-empty";
      var cell = document.createElement("td");
      cell.colSpan = 6;
      cell.className = "empty";
      cell.textContent = body.dataset.empty || "";
      empty.appendChild(cell);
      body.appendChild(empty);
    }
  }
  function place(card) {
    var old = rowOf(card.case);
    if (old && card.version !== null && Number(old.dataset.version) > card.version) {
      return;  // an older answer overtaken by a newer one
    }
    if (old) {
      var from = old.parentNode;
      from.removeChild(old);
      showEmpty(from);
    }
    var counts = card.counts || {};
    Object.keys(counts).forEach(function (section) {
      var out = document.querySelector("[data-count='" + section + "']");
      if (out) { out.textContent = counts[section]; }
    });
    var body = card.section ? document.querySelector("tbody[data-section='" + card.section + "']") : null;
    if (!body || !card.html) { return; }
    var template = document.createElement("template");
    template.innerHTML = card.html.trim();
    var row = template.content.querySelector("tr[data-case]");
    if (!row) { return; }
    var rows = body.querySelectorAll("tr[data-case]");
    var next = null;
    for (var i = 0; i < rows.length; i++) {
      if (before(row, rows[i])) { next = rows[i]; break; }
    }
    // A table that shows only its first page keeps to it: a row that sorts
    // after the last one shown belongs to a later page.
    if (!next && body.dataset.more === "1") { return; }
    body.insertBefore(row, next);
    showEmpty(body);
    row.classList.add("changed");
    window.setTimeout(function () { row.classList.remove("changed"); }, 5000);
    tick();
  }
  function refreshCard(number) {
    if (fetching[number]) { fetching[number] = "again"; return; }
    fetching[number] = true;
    window.fetch(cardBase + encodeURIComponent(number), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    }).then(function (response) {
      if (response.status === 404) { return { case: number, version: null, section: null, html: "" }; }
      if (!response.ok) { throw new Error("card " + number + ": HTTP " + response.status); }
      return response.json();
    }).then(place).catch(function (error) {
      if (window.console) { window.console.warn(error); }
    }).then(function () {
      var again = fetching[number] === "again";
      delete fetching[number];
      if (again) { refreshCard(number); }
    });
  }

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
    if (connectedBefore && (board || document.body.dataset.liveReload)) {
      window.setTimeout(function () { window.location.reload(); }, Math.random() * 10000);
    }
    connectedBefore = true;
  });
  socket.on("disconnect", function () { mark("off", dot.dataset.off); });
  socket.on("connect_error", function () { mark("off", dot.dataset.off); });
  var reloading = null;
  socket.on("case", function (payload) {
    window.dispatchEvent(new CustomEvent("hotline:case", { detail: payload }));
    if (board && payload.case) {
      refreshCard(payload.case);
    } else if (document.body.dataset.liveReload && !reloading) {
      // Other boards refresh themselves when something they show changed.
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
