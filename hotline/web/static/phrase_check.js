// G2 while typing: warn next to a staff text field as soon as it holds a banned
// phrase. The rules come once with the page (#phrase-check-data, the same lists
// the server checks with); the warning never blocks a submit: the server checks
// the text again when it is saved and records the flag.
//
// Checked: every <textarea> and every text <input> (no type, or type="text"),
// wherever the person types on the page, except
//   - fields of a form with method="get" (filters and searches store nothing),
//   - fields whose inputmode says they take no words (numeric, decimal, tel,
//     email, url),
//   - fields with data-check (the call page asks the server itself),
//   - fields with data-no-phrase-check="<why these are not words>".
//
// find() repeats callflows.domain.compliance.PhraseChecker.find: NFKC letters
// and digits, lower case, variant characters folded (and 您 as 你 in phrases),
// the allowances' patterns on the letters before and after the hit and on the
// rest of its sentence. Offsets count code points, as Python does.
(function () {
  "use strict";

  var source = document.getElementById("phrase-check-data");
  if (!source) { return; }
  var rules;
  try { rules = JSON.parse(source.textContent); } catch (e) { return; }

  var LETTER = /[\p{L}\p{N}]/u;
  var FORMAT = /\p{Cf}/u;
  var variants = rules.variants || {};
  var phraseFold = Object.assign({}, variants, rules.phrase_only || {});
  var sentenceEnd = Array.from(rules.sentence_end || "");
  var runLimit = rules.run_limit || 24;

  function fold(chars, table) {
    return chars.map(function (c) { return Object.prototype.hasOwnProperty.call(table, c) ? table[c] : c; });
  }

  // The NFKC letters and digits of chars (code points) and, for each, its index.
  function letters(chars) {
    var out = [];
    var index = [];
    chars.forEach(function (original, position) {
      Array.from(original.normalize("NFKC").toLowerCase()).forEach(function (c) {
        if (LETTER.test(c)) { out.push(c); index.push(position); }
      });
    });
    return { chars: out, index: index };
  }

  function skeleton(text) { return fold(letters(Array.from(text)).chars, phraseFold); }

  function inRun(c) { return letters([c]).chars.length > 0 || FORMAT.test(c); }

  function runBefore(chars, start) {
    var position = start;
    while (position > Math.max(0, start - runLimit) && inRun(chars[position - 1])) { position -= 1; }
    return fold(letters(chars.slice(position, start)).chars, variants).join("");
  }

  function runAfter(chars, end) {
    var position = end;
    while (position < Math.min(chars.length, end + runLimit) && inRun(chars[position])) { position += 1; }
    return fold(letters(chars.slice(end, position)).chars, variants).join("");
  }

  function sentenceRest(chars, start, end) {
    var head = start;
    while (head > 0 && sentenceEnd.indexOf(chars[head - 1]) === -1) { head -= 1; }
    var tail = end;
    while (tail < chars.length && sentenceEnd.indexOf(chars[tail]) === -1) { tail += 1; }
    return fold(letters(chars.slice(head, start)).chars.concat(["\n"], letters(chars.slice(end, tail)).chars), variants).join("");
  }

  function pattern(text, wrap) {
    if (!text) { return null; }
    try { return new RegExp(wrap(text), "u"); } catch (e) { return undefined; }
  }

  // The phrases, prepared once; duplicates after folding dropped, as on the server.
  var entries = [];
  var seen = {};
  (rules.phrases || []).forEach(function (phrase) {
    var key = skeleton(phrase).join("");
    if (!key || seen[key]) { return; }
    seen[key] = true;
    var allowances = [];
    (rules.allowances || []).forEach(function (a) {
      if (skeleton(a.phrase).join("") !== key) { return; }
      var compiled = [
        pattern(a.before, function (p) { return "(?:" + p + ")$"; }),
        pattern(a.after, function (p) { return "^(?:" + p + ")"; }),
        pattern(a.sentence, function (p) { return p; })
      ];
      // A pattern this browser cannot read allows nothing: warn rather than miss.
      if (compiled.indexOf(undefined) === -1) { allowances.push(compiled); }
    });
    entries.push({ phrase: phrase, skeleton: Array.from(key), allowances: allowances });
  });

  function indexOf(haystack, needle, from) {
    outer:
    for (var i = from; i + needle.length <= haystack.length; i += 1) {
      for (var j = 0; j < needle.length; j += 1) {
        if (haystack[i + j] !== needle[j]) { continue outer; }
      }
      return i;
    }
    return -1;
  }

  function allowed(entry, chars, start, end) {
    return entry.allowances.some(function (a) {
      if (a[0] && !a[0].test(runBefore(chars, start))) { return false; }
      if (a[1] && !a[1].test(runAfter(chars, end))) { return false; }
      if (a[2] && !a[2].test(sentenceRest(chars, start, end))) { return false; }
      return true;
    });
  }

  // Every banned phrase in text: [{phrase, matched, start, end, rule}], by position.
  function find(text) {
    var chars = Array.from(String(text));
    var found = letters(chars);
    var skel = fold(found.chars, phraseFold);
    var flags = [];
    entries.forEach(function (entry) {
      var position = indexOf(skel, entry.skeleton, 0);
      while (position !== -1) {
        var last = position + entry.skeleton.length - 1;
        var start = found.index[position];
        var end = found.index[last] + 1;
        if (!allowed(entry, chars, start, end)) {
          flags.push({ phrase: entry.phrase, matched: chars.slice(start, end).join(""), start: start, end: end, rule: rules.rule || "G2" });
        }
        position = indexOf(skel, entry.skeleton, last + 1);
      }
    });
    flags.sort(function (a, b) {
      return a.start - b.start || a.end - b.end || (a.phrase < b.phrase ? -1 : a.phrase > b.phrase ? 1 : 0);
    });
    return flags;
  }

  // -- the fields ---------------------------------------------------------------

  // Input modes that say the field takes no words (a pipe size, a phone number).
  var NOT_WORDS = ["numeric", "decimal", "tel", "email", "url"];

  function isChecked(field) {
    var tag = field.tagName;
    if (tag === "INPUT") {
      var type = (field.getAttribute("type") || "text").toLowerCase();
      if (type !== "text") { return false; }
    } else if (tag !== "TEXTAREA") {
      return false;
    }
    if (field.hasAttribute("data-no-phrase-check") || field.hasAttribute("data-check")) { return false; }
    if (NOT_WORDS.indexOf((field.getAttribute("inputmode") || "").toLowerCase()) !== -1) { return false; }
    // A form that says method="get" sends a filter or a search. A form without a
    // method is one a script sends: its fields are checked.
    var form = field.form;
    return !(form && (form.getAttribute("method") || "").toLowerCase() === "get");
  }

  var words = rules.words || {};
  var counter = 0;

  function warningFor(field) {
    var id = field.getAttribute("data-phrase-warning");
    var box = id && document.getElementById(id);
    if (box) { return box; }
    counter += 1;
    id = "phrase-warning-" + counter;
    box = document.createElement("span");
    box.id = id;
    box.className = "phrase-warning";
    box.setAttribute("role", "status");
    box.setAttribute("aria-live", "polite");
    field.insertAdjacentElement("afterend", box);
    field.setAttribute("data-phrase-warning", id);
    var described = field.getAttribute("aria-describedby");
    field.setAttribute("aria-describedby", described ? described + " " + id : id);
    return box;
  }

  function check(field) {
    var flags = find(field.value || "");
    var box = warningFor(field);
    var names = [];
    flags.forEach(function (f) { if (names.indexOf(f.phrase) === -1) { names.push(f.phrase); } });
    var text = names.length
      ? words.warning + " " + names.map(function (p) { return "「" + p + "」"; }).join("、") + " " + words.recorded
      : "";
    if (box.textContent !== text) { box.textContent = text; }
    field.toggleAttribute("data-phrase-flagged", names.length > 0);
  }

  function attach(root) {
    Array.prototype.forEach.call(root.querySelectorAll("textarea, input"), function (field) {
      if (!isChecked(field)) { return; }
      field.setAttribute("data-phrase-checked", "");
      warningFor(field);
      if (field.value) { check(field); }
    });
  }

  var timers = new WeakMap();
  document.addEventListener("input", function (event) {
    var field = event.target;
    if (!field || !field.tagName || !isChecked(field)) { return; }
    clearTimeout(timers.get(field));
    timers.set(field, setTimeout(function () { check(field); }, 120));
  }, true);

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { attach(document); });
  } else {
    attach(document);
  }

  window.HotlinePhraseCheck = { find: find, isChecked: isChecked, attach: attach };
}());
