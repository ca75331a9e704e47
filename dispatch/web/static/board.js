// The dispatch board: cards move between columns as cases change, without a
// reload. live.js holds the connection and raises "hotline:case" on window for
// every change this person may see; the dispatch room's event carries the
// changed case's card (with the column it belongs in, in each language) and it
// is put in place; an event without one makes the board fetch it. The side
// panel is fetched again. Opening a card shows its detail in a drawer; the drawer's
// forms go to the case API and the card follows.
(function () {
  "use strict";
  var body = document.body;
  if (!body.hasAttribute("data-dispatch-board")) { return; }
  var data = body.dataset;
  var drawer = document.getElementById("board-drawer");
  var drawerBody = document.getElementById("drawer-body");
  // The server's clock less the browser's: ages count from the server's now.
  var skew = data.now ? Number(data.now) * 1000 - Date.now() : 0;

  function urlFor(template, number) {
    return (template || "").replace(/\/-(\/|$)/, "/" + encodeURIComponent(number) + "$1");
  }
  function cardOf(number) {
    return document.querySelector(".card[data-case=\"" + CSS.escape(number) + "\"]");
  }

  // -- ticking: the cards' ages ----------------------------------------------------------
  function fill(format, values) {
    return (format || "").replace(/\{(\w)\}/g, function (_, key) { return values[key]; });
  }
  function tickAges() {
    var now = (Date.now() + skew) / 1000;
    var ages = document.querySelectorAll(".age[data-since]");
    for (var i = 0; i < ages.length; i++) {
      var minutes = Math.max(Math.floor((now - Number(ages[i].dataset.since)) / 60), 0);
      var parts = { d: Math.floor(minutes / 1440), h: Math.floor(minutes % 1440 / 60), m: minutes % 60 };
      ages[i].textContent = fill(parts.d ? data.fmtD : parts.h ? data.fmtH : data.fmtM, parts);
    }
  }
  // Countdowns tick in live.js (window.hotlineTick), cards placed since included.
  tickAges();
  window.setInterval(tickAges, 30000);

  // -- cards ------------------------------------------------------------------------------
  var fetching = {};  // case number -> true while its card is on the way, "again" if it changed since
  var placed = {};  // case number -> the newest version put in place (an older card never wins)
  var lang = document.documentElement.lang || "zh-CN";

  // Most urgent first, as the server lists them: by deadline (none last), then newest.
  function before(a, b) {
    var da = a.dataset.dueTs === "" ? Infinity : Number(a.dataset.dueTs);
    var db = b.dataset.dueTs === "" ? Infinity : Number(b.dataset.dueTs);
    if (da !== db) { return da < db; }
    return Number(a.dataset.id) > Number(b.dataset.id);
  }
  function showEmpty(box) {
    var empty = box.querySelector(".board-empty");
    if (empty) { empty.hidden = box.querySelectorAll(".card").length > 0; }
  }
  function place(answer) {
    var old = cardOf(answer.case);
    if (answer.version !== null && answer.version !== undefined) {
      if ((old && Number(old.dataset.version) > answer.version) || placed[answer.case] > answer.version) {
        return;  // an older answer overtaken by a newer one
      }
      placed[answer.case] = answer.version;
    }
    if (old) {
      var from = old.parentNode;
      from.removeChild(old);
      showEmpty(from);
    }
    var counts = answer.counts || {};
    Object.keys(counts).forEach(function (key) {
      var out = document.querySelector("[data-count=\"" + key + "\"]");
      if (out) { out.textContent = counts[key]; }
    });
    var box = answer.column ? document.querySelector("[data-cards=\"" + answer.column + "\"]") : null;
    if (!box || !answer.html) { return; }
    var template = document.createElement("template");
    template.innerHTML = answer.html.trim();
    var card = template.content.querySelector(".card[data-case]");
    if (!card) { return; }
    var cards = box.querySelectorAll(".card");
    var next = null;
    for (var i = 0; i < cards.length; i++) {
      if (before(card, cards[i])) { next = cards[i]; break; }
    }
    // A column showing only its first cards keeps to them: one that sorts
    // after the last shown belongs further down the list.
    if (!next && box.dataset.more === "1") { return; }
    box.insertBefore(card, next || box.querySelector(".board-empty"));
    showEmpty(box);
    card.classList.add("moved");
    window.setTimeout(function () { card.classList.remove("moved"); }, 5000);
    if (window.hotlineTick) { window.hotlineTick(card); }
    tickAges();
  }
  function refreshCard(number) {
    if (fetching[number]) { fetching[number] = "again"; return; }
    fetching[number] = true;
    window.fetch(urlFor(data.cardUrl, number), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    }).then(function (response) {
      if (response.status === 404) { return { case: number, version: null, column: null, html: "" }; }
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

  // -- the side panel ---------------------------------------------------------------------
  var panelTimer = null;
  function refreshPanel() {
    panelTimer = null;
    window.fetch(data.panelUrl, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) { throw new Error("panel: HTTP " + response.status); }
      return response.text();
    }).then(function (html) {
      document.getElementById("board-panel").innerHTML = html;
    }).catch(function (error) {
      if (window.console) { window.console.warn(error); }
    });
  }
  function soonPanel() {
    if (!panelTimer) { panelTimer = window.setTimeout(refreshPanel, 1500); }
  }
  window.setInterval(soonPanel, 60000);

  // -- live -------------------------------------------------------------------------------
  window.addEventListener("hotline:case", function (event) {
    var payload = event.detail || {};
    if (payload.case) {
      var card = payload.card;
      if (card && card.case === payload.case && card.html && (!card.column || card.html[lang] !== undefined)) {
        place({ case: card.case, version: card.version, column: card.column,
                html: card.column ? card.html[lang] : "", counts: card.counts });
      } else {
        refreshCard(payload.case);
      }
      // The open drawer follows the case, unless someone is filling in one of its forms.
      var typing = drawerBody && drawerBody.contains(document.activeElement) &&
        /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
      if (drawer && !drawer.hidden && drawer.dataset.case === payload.case && !typing) {
        openCase(payload.case, true);
      }
    }
    soonPanel();
  });
  if (window.hotlineSocket) {
    // Changes made while the connection was down were never sent: a board
    // that was cut off reloads once (spread over ten seconds).
    var connectedBefore = window.hotlineSocket.connected;
    window.hotlineSocket.on("connect", function () {
      if (connectedBefore) {
        window.setTimeout(function () { window.location.reload(); }, Math.random() * 10000);
      }
      connectedBefore = true;
    });
  }

  // -- the drawer: an opened card ----------------------------------------------------------
  if (!drawer || !data.detailUrl) { return; }

  function markSeen(number, seq) {
    var form = new URLSearchParams();
    form.set("seq", seq);
    window.fetch(urlFor(data.seenUrl, number), {
      method: "POST",
      credentials: "same-origin",
      keepalive: true,
      headers: { Accept: "application/json", "X-CSRFToken": data.csrf },
      body: form,
    }).then(function (response) {
      if (!response.ok) { throw new Error("seen " + number + ": HTTP " + response.status); }
      var card = cardOf(number);
      if (card) {
        card.classList.remove("unseen");
        var mark = card.querySelector(".unseen-mark");
        if (mark) { mark.parentNode.removeChild(mark); }
      }
    }).catch(function (error) {
      if (window.console) { window.console.warn(error); }
    });
  }
  function openCase(number, quietly) {
    return window.fetch(urlFor(data.detailUrl, number), { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("case " + number + ": HTTP " + response.status); }
        return response.text();
      }).then(function (html) {
        drawerBody.innerHTML = html;
        drawer.dataset.case = number;
        drawer.hidden = false;
        if (window.hotlineTick) { window.hotlineTick(drawerBody); }
        var detail = drawerBody.querySelector(".case-detail");
        if (detail && !quietly) {
          markSeen(number, detail.dataset.seq);
          var title = drawerBody.querySelector("#drawer-title a");
          if (title) { title.focus(); }
        }
      }).catch(function (error) {
        if (window.console) { window.console.warn(error); }
      });
  }
  function closeDrawer() {
    drawer.hidden = true;
    drawerBody.innerHTML = "";
    delete drawer.dataset.case;
  }
  document.getElementById("board-columns").addEventListener("click", function (event) {
    var card = event.target.closest(".card[data-case]");
    if (!card || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) { return; }
    event.preventDefault();
    openCase(card.dataset.case);
  });
  document.getElementById("board-columns").addEventListener("keydown", function (event) {
    var card = event.target.closest(".card[data-case]");
    if (card && event.key === "Enter" && event.target === card) { openCase(card.dataset.case); }
  });
  document.getElementById("drawer-close").addEventListener("click", closeDrawer);
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !drawer.hidden) { closeDrawer(); }
  });

  // Picking a crew member picks their department.
  drawerBody.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.matches("select[data-sets-department]")) { return; }
    var option = select.options[select.selectedIndex];
    var department = select.form.querySelector("select[name=department_id]");
    if (option && option.dataset.department && department) { department.value = option.dataset.department; }
  });

  // The drawer's forms go to the case API (the same command as the case page's form).
  drawerBody.addEventListener("submit", function (event) {
    var form = event.target;
    var detail = drawerBody.querySelector(".case-detail");
    if (!detail) { return; }
    event.preventDefault();
    var number = detail.dataset.case;
    var command = {};
    for (var i = 0; i < form.elements.length; i++) {
      var input = form.elements[i];
      if (!input.name || input.name === "csrf_token" || input.value === "") { continue; }
      command[input.name] = input.hasAttribute("data-int") ? Number(input.value) : input.value;
    }
    var error = drawerBody.querySelector(".drawer-error");
    var button = form.querySelector("button[type=submit]");
    if (button) { button.disabled = true; }
    window.fetch(urlFor(data.apiUrl, number), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": data.csrf },
      body: JSON.stringify(command),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        if (!response.ok) {
          var message = (answer.display || answer.message || ("HTTP " + response.status)) + (answer.field ? " — " + answer.field : "");
          error.textContent = fill(data.fmtUnsaved || "{x}", { x: message });
          error.hidden = false;
          if (button) { button.disabled = false; }
          return;
        }
        refreshCard(number);
        openCase(number, true);
      });
    }).catch(function (failure) {
      error.textContent = String(failure);
      error.hidden = false;
      if (button) { button.disabled = false; }
    });
  });
})();
