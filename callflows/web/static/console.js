// The console's home: calls ringing (a new one pops up), calls to call back.
//
// New calls arrive over Socket.IO ("incoming_call" in the operators' room);
// the lists are also fetched every few seconds, so a console whose live
// connection dropped still sees every call.
(function () {
  "use strict";
  var root = document.getElementById("console-home");
  if (!root) { return; }
  var T = JSON.parse(document.getElementById("console-text").textContent);
  var seen = {};
  var first = true;
  var POLL_MS = 4000;

  function $(id) { return document.getElementById(id); }

  function make(tag, props) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (key) {
      if (key === "text") { node.textContent = props[key]; }
      else if (key === "className") { node.className = props[key]; }
      else { node.setAttribute(key, props[key]); }
    });
    return node;
  }

  function url(template, id) { return template.replace("/0/", "/" + id + "/"); }

  function showError(body) {
    var box = $("console-error");
    box.textContent = T.error + ": " + ((body && (body.display || body.message)) || String(body));
    box.hidden = false;
  }

  var send = window.callflowsRequest.makeSender(root.dataset.csrf, showError);

  // What happened, said once: a call-back placed, its outcome recorded.
  function showDone(text) {
    $("console-error").hidden = true;
    var box = $("console-done");
    box.textContent = text;
    box.hidden = false;
  }

  function answer(id) {
    send("POST", url(root.dataset.answerUrl, id), {}).then(function (data) {
      if (data && data.url) { window.location.href = data.url; } else { refresh(); }
    });
  }

  function callBack(id, uncertain) {
    var body = {};
    if (uncertain) {
      if (!window.confirm(T.confirm_uncertain)) { return; }
      body.confirm_uncertain = true;
    }
    send("POST", url(root.dataset.callBackUrl, id), body).then(function (data) {
      if (data) { showDone(T.placed); }
      refresh();
    });
  }

  function recordOutcome(id, reached) {
    send("POST", url(root.dataset.callBackOutcomeUrl, id), { reached: reached }).then(function (data) {
      if (data) { showDone(reached ? T.recorded_reached : T.recorded_not_reached); }
      refresh();
    });
  }

  function fill(tbody, rows, empty, cells) {
    while (tbody.firstChild) { tbody.removeChild(tbody.firstChild); }
    if (!rows.length) {
      var tr = make("tr", { className: "empty-row" });
      var td = make("td", { colspan: "4", className: "empty", text: empty });
      tr.appendChild(td);
      tbody.appendChild(tr);
      return;
    }
    rows.forEach(function (row) {
      var tr = make("tr", { "data-call-id": row.id });
      cells(row).forEach(function (cell) {
        var td = make("td");
        if (typeof cell === "string") { td.textContent = cell; } else if (cell) { td.appendChild(cell); }
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
  }

  function popUp(row) {
    var banner = $("incoming-banner");
    banner.querySelector(".incoming-from").textContent = row.from || T.withheld;
    banner.querySelector(".incoming-customer").textContent = row.customer || T.unknown_caller;
    banner.dataset.callId = row.id;
    banner.hidden = false;
    // Answering is the next thing to do: Enter (or a click) answers.
    var active = document.activeElement;
    if (!active || active === document.body || !/^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) {
      banner.querySelector(".incoming-answer").focus();
    }
  }

  function render(data) {
    fill($("waiting-calls").querySelector("tbody"), data.waiting, T.no_waiting, function (row) {
      var button = make("button", { type: "button", className: "primary answer-call", text: T.answer });
      button.addEventListener("click", function () { answer(row.id); });
      return [row.from || T.withheld, row.customer || T.unknown_caller, row.ringing_at, button];
    });
    fill($("missed-calls").querySelector("tbody"), data.missed, T.no_missed, function (row) {
      var buttons = make("span");
      if (row.awaiting_outcome) {
        var reached = make("button", { type: "button", className: "call-back-reached", text: T.reached });
        reached.addEventListener("click", function () { recordOutcome(row.id, true); });
        var missedAgain = make("button", { type: "button", className: "call-back-not-reached", text: T.not_reached });
        missedAgain.addEventListener("click", function () { recordOutcome(row.id, false); });
        buttons.appendChild(reached);
        buttons.appendChild(document.createTextNode(" "));
        buttons.appendChild(missedAgain);
      }
      if (row.may_call_back) {
        var again = make("button", { type: "button", className: "call-back", text: T.call_back });
        again.addEventListener("click", function () {
          callBack(row.id, row.attempt && row.attempt.status === "uncertain");
        });
        buttons.appendChild(document.createTextNode(" "));
        buttons.appendChild(again);
      }
      return [row.from || T.withheld, row.ringing_at, row.situation, buttons];
    });
    var banner = $("incoming-banner");
    var waitingIds = data.waiting.map(function (row) { return String(row.id); });
    if (!banner.hidden && waitingIds.indexOf(banner.dataset.callId) === -1) { banner.hidden = true; }
    data.waiting.forEach(function (row) {
      if (!seen[row.id] && (banner.hidden || !first)) { popUp(row); }
      seen[row.id] = true;
    });
    if (banner.hidden && data.waiting.length) { popUp(data.waiting[0]); }
    first = false;
  }

  function refresh() {
    return send("GET", root.dataset.incomingUrl).then(function (data) { if (data) { render(data); } });
  }

  $("incoming-banner").querySelector(".incoming-answer").addEventListener("click", function () {
    answer($("incoming-banner").dataset.callId);
  });
  Array.prototype.forEach.call(document.querySelectorAll(".answer-call"), function (button) {
    button.addEventListener("click", function () { answer(button.dataset.callId); });
  });
  Array.prototype.forEach.call(document.querySelectorAll(".call-back-reached"), function (button) {
    button.addEventListener("click", function () { recordOutcome(button.dataset.callId, true); });
  });
  Array.prototype.forEach.call(document.querySelectorAll(".call-back-not-reached"), function (button) {
    button.addEventListener("click", function () { recordOutcome(button.dataset.callId, false); });
  });
  Array.prototype.forEach.call(document.querySelectorAll(".call-back"), function (button) {
    button.addEventListener("click", function () {
      callBack(button.dataset.callId, button.dataset.uncertain === "1");
    });
  });

  if (window.hotlineSocket) {
    ["incoming_call", "call_taken", "call_ended", "call_called_back"].forEach(function (name) {
      window.hotlineSocket.on(name, function () { refresh(); });
    });
  }
  refresh();
  setInterval(refresh, POLL_MS);
})();
