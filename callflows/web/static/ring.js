// A ringing call reaches a call taker on any page (P1: answer within three rings).
// The banner (callflows/_ring.html) shows the caller, how long the call has
// rung against the three-ring limit and an answer button that opens the
// console on that call; a ring tone plays unless muted (the choice is kept in
// this browser) and the tab title flashes. The list of ringing calls comes
// from the console API; Socket.IO events ("incoming_call", "call_taken",
// "call_ended") ask for it again, and a slow poll covers a lost connection.
// On the console page, which has its own banner, only the tone and the title
// are added.
(function () {
  "use strict";
  var root = document.getElementById("ring-banner");
  if (!root) { return; }
  var onConsole = !!document.getElementById("incoming-banner");
  var MUTED_KEY = "hotline.ring.muted";
  var limit = Number(root.dataset.limit) || 15;
  var plainTitle = document.title;
  var waiting = [];
  var shown = null;
  var ticker = null;
  var toneTimer = null;
  var audio = null;

  function $(selector) { return root.querySelector(selector); }
  function muted() {
    try { return window.localStorage.getItem(MUTED_KEY) === "1"; } catch (e) { return false; }
  }
  function setMuted(value) {
    try { window.localStorage.setItem(MUTED_KEY, value ? "1" : "0"); } catch (e) { /* private mode */ }
    showMute();
    if (value) { stopTone(); } else if (waiting.length) { startTone(); }
  }
  function showMute() {
    var button = $(".ring-mute");
    button.textContent = muted() ? button.dataset.unmute : button.dataset.mute;
    button.setAttribute("aria-pressed", muted() ? "true" : "false");
  }
  function newKey() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    return "k-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  // -- the tone: two short rings every three seconds ------------------------------------
  function beep(at, length) {
    [440, 480].forEach(function (frequency) {
      var oscillator = audio.createOscillator();
      var gain = audio.createGain();
      oscillator.frequency.value = frequency;
      gain.gain.value = 0.08;
      oscillator.connect(gain);
      gain.connect(audio.destination);
      oscillator.start(at);
      oscillator.stop(at + length);
    });
  }
  function ringOnce() {
    if (!audio) {
      var Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) { return; }
      audio = new Context();
    }
    if (audio.state === "suspended") { audio.resume(); }
    var now = audio.currentTime;
    beep(now, 0.4);
    beep(now + 0.6, 0.4);
  }
  function startTone() {
    if (toneTimer || muted()) { return; }
    ringOnce();
    toneTimer = window.setInterval(ringOnce, 3000);
  }
  function stopTone() {
    if (toneTimer) { window.clearInterval(toneTimer); toneTimer = null; }
  }
  // Browsers start sound only after the person has touched the page.
  document.addEventListener("click", function () {
    if (audio && audio.state === "suspended") { audio.resume(); }
  });

  // -- the banner and the title ---------------------------------------------------------
  function elapsed(call) {
    return Math.max(0, Math.floor((Date.now() - Date.parse(call.ringing_iso)) / 1000));
  }
  function tick() {
    if (!shown) { return; }
    var seconds = elapsed(shown);
    var time = $(".ring-time");
    time.textContent = root.dataset.seconds.replace("{s}", String(seconds)) +
      (seconds > limit ? " · " + root.dataset.over : "");
    time.classList.toggle("over", seconds > limit);
    var who = shown.customer || shown.from || root.dataset.withheld;
    document.title = (document.title === plainTitle ? root.dataset.title + " " + who : plainTitle);
  }
  function render() {
    if (!waiting.length) {
      shown = null;
      root.hidden = true;
      document.body.classList.remove("ringing");
      stopTone();
      if (ticker) { window.clearInterval(ticker); ticker = null; }
      document.title = plainTitle;
      return;
    }
    shown = waiting[0];
    $(".ring-customer").textContent = shown.customer || root.dataset.unknown;
    $(".ring-from").textContent = shown.from || root.dataset.withheld;
    $(".ring-more").textContent = waiting.length > 1
      ? root.dataset.more.replace("{n}", String(waiting.length - 1)) : "";
    $(".ring-answer").dataset.callId = shown.id;
    root.hidden = onConsole;
    document.body.classList.add("ringing");
    startTone();
    if (!ticker) { ticker = window.setInterval(tick, 1000); }
    tick();
  }
  function refresh() {
    return fetch(root.dataset.incomingUrl, {
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (data) {
      if (data) { waiting = data.waiting || []; render(); }
    }).catch(function () { /* the next event or poll tries again */ });
  }

  // -- answering from anywhere opens the console on the call ------------------------------
  function answer(callId) {
    var error = $(".ring-error");
    error.textContent = "";
    var url = root.dataset.answerUrl.replace("/0/", "/" + callId + "/");
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Accept": "application/json",
        "X-CSRFToken": root.dataset.csrf,
        "Idempotency-Key": newKey()
      }
    }).then(function (response) {
      if (response.ok) {
        stopTone();
        window.location.assign(root.dataset.callUrl.replace(/\/0$/, "/" + callId));
        return;
      }
      return response.json().catch(function () { return {}; }).then(function (body) {
        error.textContent = body.display || body.message || root.dataset.taken;
        refresh();
      });
    }).catch(function () {
      error.textContent = root.dataset.taken;
      refresh();
    });
  }

  $(".ring-answer").addEventListener("click", function () {
    if (this.dataset.callId) { answer(this.dataset.callId); }
  });
  $(".ring-mute").addEventListener("click", function () { setMuted(!muted()); });
  showMute();

  if (window.hotlineSocket) {
    ["incoming_call", "call_taken", "call_ended", "connect"].forEach(function (name) {
      window.hotlineSocket.on(name, function () { refresh(); });
    });
  }
  window.setInterval(refresh, 20000);
  refresh();
})();
