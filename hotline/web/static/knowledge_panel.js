// The knowledge panel on the live call (G3, W10).
//
// Searches the knowledge base as the operator types in the panel's box, and
// suggests articles from the caller's words as the problem is written down.
// "用此答复" makes an article the answer's source (and fills the answer if it
// is empty); the console's submission sends it (window.hotlineKnowledge).
// "请示上级并立案" records the consultation with dispatch, waiting for the
// chosen superior's answer within the reply time limit.
(function () {
  "use strict";
  var panel = document.getElementById("knowledge-panel");
  if (!panel) { return; }
  var T = JSON.parse(document.getElementById("knowledge-text").textContent);
  var query = document.getElementById("knowledge-query");
  var results = document.getElementById("knowledge-results");
  var hint = document.getElementById("knowledge-hint");
  var chosenBox = document.getElementById("knowledge-chosen");
  var chosen = null;
  var ask = null;
  var lastAsked = null;
  var timer = null;

  function caseField(name) {
    return document.querySelector('#case-form [name="' + name + '"]');
  }

  function render(hits, label) {
    while (results.firstChild) { results.removeChild(results.firstChild); }
    hint.textContent = label;
    if (!hits.length) {
      var empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = T.none;
      results.appendChild(empty);
      return;
    }
    hits.forEach(function (hit) {
      var item = document.createElement("li");
      item.className = "knowledge-hit";
      item.setAttribute("data-article", hit.id);
      var title = document.createElement("strong");
      title.textContent = hit.title;
      var kind = document.createElement("small");
      kind.textContent = " " + (T.categories[hit.category] || hit.category);
      var summary = document.createElement("p");
      summary.className = "knowledge-summary";
      summary.textContent = hit.summary;
      var use = document.createElement("button");
      use.type = "button";
      use.className = "knowledge-use";
      use.textContent = T.use;
      use.addEventListener("click", function () { choose(hit); });
      var open = document.createElement("a");
      open.href = panel.dataset.articleUrl.replace(/0$/, String(hit.id));
      open.target = "_blank";
      open.rel = "noopener";
      open.textContent = T.open;
      item.appendChild(title);
      item.appendChild(kind);
      item.appendChild(summary);
      item.appendChild(use);
      item.appendChild(document.createTextNode(" "));
      item.appendChild(open);
      results.appendChild(item);
    });
  }

  function search(text, label) {
    text = (text || "").trim().slice(0, 200);
    if (text === lastAsked) { return; }
    lastAsked = text;
    var url = panel.dataset.searchUrl + "?limit=6&q=" + encodeURIComponent(text);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : []; })
      .then(function (hits) { if (text === lastAsked) { render(hits, label); } })
      .catch(function () { /* the panel stays as it was; the call goes on */ });
  }

  function later(fn) {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(fn, 350);
  }

  function choose(hit) {
    chosen = hit;
    document.getElementById("knowledge-chosen-title").textContent = hit.title;
    chosenBox.hidden = false;
    var answer = caseField("answer");
    if (answer && !answer.value.trim()) {
      answer.value = hit.summary;
      answer.dispatchEvent(new Event("input", { bubbles: true }));
    }
  }

  document.getElementById("knowledge-clear").addEventListener("click", function () {
    chosen = null;
    chosenBox.hidden = true;
  });

  query.addEventListener("input", function () {
    later(function () { search(query.value, T.results); });
  });

  // Suggestions from the caller's words, while the box is empty.
  var lastProblem = "";
  function fromCaller() {
    if (query.value.trim()) { return; }
    var problem = caseField("problem");
    var need = caseField("need");
    var words = ((problem ? problem.value : "") + " " + (need ? need.value : "")).trim();
    if (words && words !== lastProblem) {
      lastProblem = words;
      search(words, T.suggested);
    }
  }
  document.addEventListener("input", function (event) {
    var name = event.target && event.target.getAttribute && event.target.getAttribute("name");
    if (name === "problem" || name === "need") { later(fromCaller); }
  });
  setInterval(fromCaller, 1500);  // the script fills the problem in too
  search("", T.results);

  // W10: nobody can answer now.
  document.getElementById("knowledge-ask-submit").addEventListener("click", function () {
    var answerer = document.getElementById("knowledge-answerer");
    var question = document.getElementById("knowledge-question");
    var state = document.getElementById("knowledge-ask-state");
    if (!question.value.trim()) {
      var problem = caseField("problem");
      question.value = problem ? problem.value.trim() : "";
    }
    state.hidden = false;
    if (!answerer.value) { state.textContent = T.need_answerer; return; }
    if (!question.value.trim()) { state.textContent = T.need_question; return; }
    ask = { ask_answerer_id: answerer.value, question: question.value.trim() };
    state.textContent = T.asking.replace("{name}", answerer.options[answerer.selectedIndex].text);
    var category = caseField("category");
    if (category && category.value !== panel.dataset.consultation) {
      category.value = panel.dataset.consultation;
      category.dispatchEvent(new Event("change", { bubbles: true }));
    }
    var dispatch = document.getElementById("submit-dispatch");
    if (dispatch) { dispatch.click(); }
  });

  window.hotlineKnowledge = {
    // What the submission of ``outcome`` carries from the panel.
    submission: function (outcome) {
      var extra = {};
      if (outcome === "answer_on_call" && chosen) { extra.article_id = chosen.id; }
      if (outcome === "dispatch" && ask) { Object.assign(extra, ask); }
      return extra;
    }
  };
})();
