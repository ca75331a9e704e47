// The live call on the console: caller, script and case in three columns.
//
// The script engine runs on the server. Every button here sends one small
// JSON request (/api/calls/<id>/...) and redraws the whole call from the
// view the server answers with, so what the operator sees is what was
// stored. Requests go out one at a time, in order: typed text is captured
// before the step it belongs to is completed.
(function () {
  "use strict";
  var root = document.getElementById("call-console");
  if (!root) { return; }
  var T = JSON.parse(document.getElementById("console-text").textContent);
  var view = JSON.parse(document.getElementById("call-view").textContent);
  var english = root.dataset.locale === "en";
  var queue = Promise.resolve();
  var receivedAt = Date.now();
  var renderedStep = null;
  var lastResult = null;

  function $(id) { return document.getElementById(id); }

  // The English line under the script's wording: always in English, on demand in Chinese.
  var englishToggle = document.getElementById("toggle-english");
  function showEnglish() { return english || (englishToggle && englishToggle.getAttribute("aria-pressed") === "true"); }
  if (englishToggle) {
    englishToggle.addEventListener("click", function () {
      var on = englishToggle.getAttribute("aria-pressed") !== "true";
      englishToggle.setAttribute("aria-pressed", on ? "true" : "false");
      document.getElementById("step-text-en").hidden = !on;
    });
  }

  function fmt(text, values) {
    return String(text).replace(/\{(\w+)\}/g, function (match, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? values[key] : match;
    });
  }

  function make(tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (key) {
      if (key === "text") { node.textContent = props[key]; }
      else if (key === "className") { node.className = props[key]; }
      else if (key.indexOf("data-") === 0) { node.setAttribute(key, props[key]); }
      else { node[key] = props[key]; }
    });
    (children || []).forEach(function (child) { if (child) { node.appendChild(child); } });
    return node;
  }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  function showError(body) {
    var box = $("console-error");
    var message = (body && (body.display || body.message)) || String(body);
    var where = [];
    if (body && body.rule === "P4") {
      // P4 in the page's language: what is not recorded yet, by the fields' names.
      message = T.p4_refused;
      if (body.missing && body.missing.length) {
        var names = body.missing.map(function (name) { return T.p4_fields[name] || name; });
        message += " — " + fmt(T.p4_missing, { fields: names.join(english ? ", " : "、") });
      }
    } else if (body && body.field) {
      where.push(body.field);
    }
    if (body && body.rule) { where.push(body.rule); }
    box.textContent = T.error + ": " + message + (where.length ? " (" + where.join(" · ") + ")" : "");
    box.hidden = false;
  }

  function clearError() { $("console-error").hidden = true; }

  var send = window.callflowsRequest.makeSender(root.dataset.csrf, showError);

  // Requests that change the call run one after another; data-busy says one is under way.
  var inFlight = 0;
  function enqueue(task) {
    inFlight += 1;
    root.dataset.busy = "1";
    function settle(result) {
      inFlight -= 1;
      if (!inFlight) { root.dataset.busy = "0"; }
      return result;
    }
    queue = queue.then(task, task).then(settle, function (error) { settle(); throw error; });
    return queue;
  }

  function accept(data) {
    if (!data) { return false; }
    if (data.call) {
      view = data;
      receivedAt = Date.now();
      if (data.result) { lastResult = data.result; }
      clearError();
      render();
    }
    return true;
  }

  function post(url, body) { return send("POST", url, body).then(accept); }

  function scriptOps(ops) {
    return enqueue(function () {
      var chain = Promise.resolve(true);
      ops.forEach(function (item) {
        chain = chain.then(function (ok) {
          if (!ok) { return false; }
          return post(root.dataset.scriptUrl, Object.assign({ op: item[0] }, item[1] || {}));
        });
      });
      return chain;
    });
  }

  // -- captured fields ---------------------------------------------------------

  function scriptHas(name) {
    return view.script && view.script.field_names.indexOf(name) !== -1;
  }

  function fieldInputs(name) {
    return Array.prototype.slice.call(root.querySelectorAll('[data-field="' + name + '"]'));
  }

  function pendingCaptures() {
    var seen = {};
    var ops = [];
    Array.prototype.forEach.call(root.querySelectorAll("[data-field]"), function (input) {
      var name = input.dataset.field;
      if (seen[name] || !scriptHas(name)) { return; }
      var value = input.value.trim();
      var stored = (view.script.fields[name] || "");
      if (value && value !== stored) {
        seen[name] = true;
        ops.push(["capture", { field: name, value: value }]);
      }
    });
    return ops;
  }

  function withCaptures(ops) { return scriptOps(pendingCaptures().concat(ops)); }

  root.addEventListener("input", function (event) {
    var name = event.target.dataset && event.target.dataset.field;
    if (!name) { return; }
    fieldInputs(name).forEach(function (other) {
      if (other !== event.target) { other.value = event.target.value; }
    });
  });

  root.addEventListener("change", function (event) {
    var target = event.target;
    var name = target.dataset && target.dataset.field;
    if (name && scriptHas(name) && target.value.trim() &&
        target.value.trim() !== (view.script.fields[name] || "")) {
      scriptOps([["capture", { field: name, value: target.value.trim() }]]);
    }
    if (target.name === "target_department_id" && scriptHas("transfer_department")) {
      var option = target.options[target.selectedIndex];
      if (option && option.dataset.name) {
        scriptOps([["capture", { field: "transfer_department", value: option.dataset.name }]]);
      }
    }
  });

  function fillFields() {
    if (!view.script) { return; }
    var fields = view.script.fields;
    Object.keys(fields).forEach(function (name) {
      fieldInputs(name).forEach(function (input) {
        if (input !== document.activeElement) { input.value = fields[name]; }
      });
    });
  }

  // -- the caller ----------------------------------------------------------------

  function incidentText(incident) {
    var latest = incident.latest;
    var parts = [T.incident + " " + incident.number + " · " + incident.address];
    if (latest) {
      if (latest.cause) { parts.push(latest.cause); }
      if (latest.estimated_restore_at) { parts.push(T.restore + " " + latest.estimated_restore_at); }
      if (latest.text) { parts.push(latest.text); }
    }
    return parts.join(" · ");
  }

  function renderCaller() {
    var caller = view.caller;
    var banner = $("outage-banner");
    clear(banner);
    caller.outages.forEach(function (outage) {
      banner.appendChild(make("p", {
        text: T.outage + ": " + outage.area + " · " + outage.reason + " · " +
          outage.starts_at + " – " + outage.ends_at
      }));
    });
    // An incident the caller's case joined, or one at their address: its latest update.
    (caller.incidents || []).forEach(function (incident) {
      banner.appendChild(make("p", { className: "incident", text: incidentText(incident) }));
    });
    banner.hidden = caller.outages.length === 0 && !(caller.incidents || []).length;

    var box = $("caller-customers");
    clear(box);
    caller.customers.forEach(function (customer) {
      var arrears = customer.in_arrears
        ? make("span", { className: "arrears", text: fmt(T.arrears, { amount: customer.arrears }) +
            (customer.arrears_since ? " " + fmt(T.since, { date: customer.arrears_since }) : "") })
        : make("span", { className: "no-arrears", text: T.no_arrears });
      box.appendChild(make("div", { className: "customer" }, [
        make("strong", { text: customer.name }),
        make("span", { className: "account", text: " " + customer.account_number }),
        make("p", { text: customer.address }),
        arrears
      ]));
    });
    if (!caller.known) {
      box.appendChild(make("p", { className: "unknown", text: T.unknown }));
    }
    $("caller-search").hidden = caller.known;

    var cases = $("caller-cases");
    clear(cases);
    caller.open_cases.forEach(function (item) {
      cases.appendChild(make("li", {}, [
        make("a", { href: item.url, text: item.number, target: "_blank" }),
        make("span", { text: " " + item.category + " · " + item.state +
          (item.promised_at ? " · " + T.promised + " " + item.promised_at : "") })
      ]));
    });
    if (!caller.open_cases.length) { cases.appendChild(make("li", { className: "empty", text: T.no_cases })); }

    var contacts = $("caller-contacts");
    clear(contacts);
    caller.recent_contacts.forEach(function (item) {
      contacts.appendChild(make("li", { text: item.at + " " + item.channel +
        (item.case_number ? " · " + item.case_number : "") + (item.summary ? " · " + item.summary : "") }));
    });
    if (!caller.recent_contacts.length) {
      contacts.appendChild(make("li", { className: "empty", text: T.no_contacts }));
    }

    var single = caller.customers.length === 1 ? caller.customers[0] : null;
    var account = root.querySelector("input[name=customer_account]");
    if (single && !account.value) { account.value = single.account_number; }
    var addressButton = $("use-account-address");
    addressButton.hidden = !single;
    addressButton.onclick = function () {
      fieldInputs("address").forEach(function (input) { input.value = single.address; });
      scriptOps([["capture", { field: "address", value: single.address }]]);
    };
  }

  var searchTimer = null;
  $("customer-query").addEventListener("input", function (event) {
    clearTimeout(searchTimer);
    var query = event.target.value.trim();
    searchTimer = setTimeout(function () {
      var list = $("customer-results");
      clear(list);
      if (query.length < 2) { return; }
      send("GET", root.dataset.searchUrl + "?q=" + encodeURIComponent(query)).then(function (data) {
        if (!data) { return; }
        data.customers.forEach(function (customer) {
          var choose = make("button", { type: "button", text: T.choose });
          choose.addEventListener("click", function () {
            enqueue(function () {
              return post(root.dataset.customerUrl, { account_number: customer.account_number });
            });
          });
          list.appendChild(make("li", {}, [
            make("span", { text: customer.account_number + " " + customer.name + " " + customer.address + " " }),
            choose
          ]));
        });
      });
    }, 300);
  });

  // -- the script ----------------------------------------------------------------

  function captureInput(field) {
    var input;
    if (field.from_case) {
      // Filled by the case when it is created (F11): shown, never typed.
      return make("p", { className: "from-case", "data-from-case": field.name }, [
        make("span", { text: (english ? field.en : field.zh) + ": " }),
        make("strong", { text: field.value || T.from_case })
      ]);
    }
    if (field.choices.length) {
      input = make("select", {});
      input.appendChild(make("option", { value: "", text: "—" }));
      field.choices.forEach(function (choice) {
        input.appendChild(make("option", { value: choice.value, text: choice.label }));
      });
    } else if (field.name === "problem" || field.name === "need" || field.name === "caller_told") {
      input = make("textarea", { rows: 2 });
    } else {
      input = make("input", {});
    }
    input.setAttribute("data-field", field.name);
    input.value = field.value || "";
    var label = make("label", { className: field.choices.length ? "" : "wide" }, [
      make("span", { text: (english ? field.en : field.zh) + (field.required ? " *" : "") })
    ]);
    label.appendChild(input);
    if (field.suggested && !field.value) {
      // A suggestion from the caller's words: pre-selected, to confirm or change.
      input.value = field.suggested.value;
      input.classList.add("suggested");
      fieldInputs(field.name).forEach(function (other) { if (!other.value) { other.value = field.suggested.value; } });
      var why = field.suggested.words.length
        ? " · " + T.because + " " + field.suggested.words.map(function (w) { return "「" + w + "」"; }).join("")
        : "";
      label.appendChild(make("span", {
        className: "suggestion", "data-suggested": field.suggested.value,
        text: T.suggested + ": " + field.suggested.label + why
      }));
    }
    return label;
  }

  function renderScript() {
    var script = view.script;
    var live = view.call.live;
    if (!script) { return; }
    $("script-name").textContent = english ? script.name_en : script.name_zh;
    var step = script.current;
    var badges = $("step-badges");
    clear(badges);
    $("step-complete").hidden = true;
    $("step-skip").hidden = true;
    $("read-back").hidden = true;
    if (!step) {
      $("step-text").textContent = T.script_done;
      $("step-text-en").textContent = "";
      $("step-note").textContent = "";
      clear($("step-captures"));
      clear($("step-answers"));
      renderedStep = null;
    } else {
      if (step.verbatim) { badges.appendChild(make("span", { className: "badge-verbatim", text: T.verbatim })); }
      if (step.rule) { badges.appendChild(make("span", { className: "badge-rule", text: step.rule })); }
      badges.appendChild(make("span", { className: "badge-req", text: step.required ? T.required : T.optional }));
      $("step-text").textContent = step.zh;
      $("step-text-en").textContent = step.en;
      $("step-note").textContent = (english ? step.note_en : step.note_zh) || "";
      $("step-box").dataset.step = step.id;
      if (renderedStep !== step.id) {
        var captures = $("step-captures");
        clear(captures);
        step.captures.forEach(function (field) { captures.appendChild(captureInput(field)); });
        var answers = $("step-answers");
        clear(answers);
        step.answers.forEach(function (branch, index) {
          var button = make("button", { type: "button", className: "answer", text: english ? branch.en : branch.zh });
          button.setAttribute("data-answer", branch.answer);
          button.title = "Alt+" + (index + 1);
          button.addEventListener("click", function () { withCaptures([["answer", { answer: branch.answer }]]); });
          answers.appendChild(button);
        });
        // A step that asks what the next one records (the greeting: "how may I help
        // you?"): the caller's answers are chosen at once, the step done with them.
        (step.then_answers || []).forEach(function (branch, index) {
          var button = make("button", { type: "button", className: "answer then", text: english ? branch.en : branch.zh });
          button.setAttribute("data-answer", branch.answer);
          button.title = "Alt+" + (index + 1);
          button.addEventListener("click", function () {
            withCaptures([["complete"], ["answer", { answer: branch.answer }]]);
          });
          answers.appendChild(button);
        });
        renderedStep = step.id;
      }
      step.captures.forEach(function (field) {
        var shown = root.querySelector('#step-captures [data-from-case="' + field.name + '"] strong');
        if (shown) { shown.textContent = field.value || T.from_case; }
      });
      var waitsForCase = step.captures.some(function (field) { return field.from_case && !field.value; });
      $("step-complete").hidden = step.answers.length > 0 || !live || step.read_back || waitsForCase;
      $("step-skip").hidden = step.required || !live;
      if (step.read_back) {
        $("read-back").hidden = false;
        var items = $("read-back-items");
        clear(items);
        script.read_back.items.forEach(function (item) {
          items.appendChild(make("dt", { text: english ? item.en : item.zh }));
          items.appendChild(make("dd", { text: item.value || "××" }));
        });
        $("read-back-state").textContent = script.read_back.confirmed_at
          ? T.read_back_confirmed + " " + script.read_back.confirmed_at : "";
      }
    }
    Array.prototype.forEach.call(root.querySelectorAll("#step-answers button, #confirm-read-back, #prompt-not-heard, #lookup-start"), function (button) {
      button.disabled = !live;
    });

    var done = $("done-steps");
    clear(done);
    script.done.forEach(function (record) {
      var text = (record.status === "done" ? "✓ " : "– ") + record.at + " " +
        (english ? record.en : record.zh) +
        ((english ? record.answer_en : record.answer_zh) ? " → " + (english ? record.answer_en : record.answer_zh) : "");
      done.appendChild(make("li", { className: "done-" + record.status, text: text }));
    });

    var flag = $("read-back-flag");
    flag.textContent = script.ready_to_submit ? T.read_back_confirmed : T.read_back_pending;
    flag.className = "read-back-flag " + (script.ready_to_submit ? "ok" : "pending");
    renderLookup();
  }

  function renderLookup() {
    if (!view.script) { return; }
    var lookup = view.script.lookup;
    $("lookup-box").hidden = !lookup.active;
    $("lookup-start").hidden = lookup.active;
    if (!lookup.active) {
      if ($("prompt-line").dataset.kind === "lookup") { $("prompt-line").hidden = true; }
      return;
    }
    var left = Math.ceil((lookup.seconds_left || 0) - (Date.now() - receivedAt) / 1000);
    var line = $("prompt-line");
    if (left <= 0) {
      line.textContent = T.lookup_due + " " + view.script.prompts.lookup.zh;
      line.dataset.kind = "lookup";
      line.className = "prompt-line due";
      line.hidden = false;
      $("lookup-timer").textContent = "";
    } else {
      $("lookup-timer").textContent = fmt(T.lookup_next, { seconds: left });
      if (line.dataset.kind === "lookup") { line.hidden = true; }
    }
  }
  setInterval(renderLookup, 1000);

  function say(prompt, kind) {
    var line = $("prompt-line");
    // The standard's words as said; their English only in English or on demand.
    line.textContent = prompt.zh + (showEnglish() ? " / " + prompt.en : "");
    line.dataset.kind = kind;
    line.className = "prompt-line";
    line.hidden = false;
  }

  $("step-complete").addEventListener("click", function () { withCaptures([["complete"]]); });
  $("step-skip").addEventListener("click", function () { scriptOps([["skip"]]); });
  // P4 in one action: the caller confirmed what was read back, and the step is done.
  function confirmReadBack() {
    var ops = view.script.read_back.confirmed_at ? [] : [["confirm_read_back"]];
    return withCaptures(ops.concat([["complete"]]));
  }
  $("confirm-read-back").addEventListener("click", confirmReadBack);
  // Say the hand-over line and create the case: one action.
  $("step-dispatch").addEventListener("click", function () {
    withCaptures([["complete"]]).then(function (ok) { if (ok) { submit("dispatch"); } });
  });
  $("correct-read-back").addEventListener("click", function () {
    var first = root.querySelector('#case-form [data-field="problem"]');
    if (first) { first.focus(); }
  });
  $("prompt-not-heard").addEventListener("click", function () {
    scriptOps([["not_heard"]]).then(function (ok) {
      if (ok) { say(view.script.prompts.not_heard, "not_heard"); }
    });
  });
  $("lookup-start").addEventListener("click", function () {
    scriptOps([["start_lookup"]]).then(function (ok) {
      if (ok) { say(view.script.prompts.lookup, "lookup-said"); }
    });
  });
  $("lookup-reassure").addEventListener("click", function () {
    scriptOps([["reassure"]]).then(function (ok) {
      if (ok) { say(view.script.prompts.lookup, "lookup-said"); }
    });
  });
  $("lookup-end").addEventListener("click", function () {
    scriptOps([["end_lookup"]]).then(function () { $("prompt-line").hidden = true; });
  });

  // -- the case ------------------------------------------------------------------

  function formValue(name) {
    var input = root.querySelector('#case-form [name="' + name + '"]');
    return input ? input.value.trim() : "";
  }

  function submit(outcome, extra) {
    var body = {
      outcome: outcome,
      category: formValue("category"),
      priority: formValue("priority"),
      triage: formValue("triage"),
      pipe_size_dn: formValue("pipe_size_dn"),
      grade: formValue("grade"),
      area: formValue("area"),
      customer_account: formValue("customer_account"),
      answer: formValue("answer"),
      target_department_id: formValue("target_department_id"),
      told_caller: formValue("told_caller"),
      summary: formValue("summary")
    };
    Object.assign(body, window.hotlineKnowledge ? window.hotlineKnowledge.submission(outcome) : {});
    Object.assign(body, extra || {});
    var ops = pendingCaptures();
    return scriptOps(ops).then(function (ok) {
      if (!ok) { return false; }
      return enqueue(function () { return post(root.dataset.submitUrl, body); });
    });
  }

  Array.prototype.forEach.call(root.querySelectorAll("#outcome-box [data-outcome]"), function (button) {
    button.addEventListener("click", function () { submit(button.dataset.outcome); });
  });

  function renderCase() {
    var similar = $("similar-cases");
    clear(similar);
    view.similar_cases.forEach(function (item) {
      var join = make("button", { type: "button", className: "join-case", text: T.join });
      join.setAttribute("data-case", item.number);
      join.addEventListener("click", function () { submit("join", { join_case_number: item.number }); });
      var parts = [
        make("strong", { text: item.number }),
        make("span", { text: " " + item.category + " · " + item.state + " · " + item.address +
          (item.promised_at ? " · " + T.promised + " " + item.promised_at : "") + " " }),
        join
      ];
      if (item.incident) {
        // A main break: the caller gets a case of their own, joined to the incident.
        var joinIncident = make("button", { type: "button", className: "join-incident", text: T.join_incident });
        joinIncident.setAttribute("data-case", item.number);
        joinIncident.addEventListener("click", function () {
          submit("join_incident", { join_case_number: item.number });
        });
        parts.push(joinIncident);
        parts.push(make("p", { className: "incident", text: incidentText(item.incident) }));
      }
      similar.appendChild(make("li", {}, parts));
    });
    if (!view.similar_cases.length) { similar.appendChild(make("li", { className: "empty", text: T.no_similar })); }

    var resultBox = $("case-result");
    var caseInfo = view.case;
    if (caseInfo || (lastResult && lastResult.contact_id)) {
      var number = caseInfo ? caseInfo.number : lastResult.case_number;
      resultBox.hidden = !number;
      $("result-case-number").textContent = number || "";
      // Beijing time as the product shows it (11-26 14:05).
      var promised = (caseInfo && caseInfo.promised_at) || (lastResult && lastResult.promised_at);
      $("result-promised").textContent = promised ? T.promised + " " + promised : "";
      $("result-case-link").href = caseInfo ? caseInfo.url : "#";
      $("result-closing").textContent = view.script && view.script.closing ? view.script.closing.zh : "";
      Array.prototype.forEach.call(root.querySelectorAll("#outcome-box button"), function (button) {
        button.disabled = true;
      });
    }
    if (view.call.recorded) {
      Array.prototype.forEach.call(root.querySelectorAll("#outcome-box button, #similar-cases button"), function (button) {
        button.disabled = true;
      });
    }
    // A contact recorded without a case says so, also after the caller hung up.
    var recorded = $("contact-recorded");
    var noCase = view.call.recorded && !caseInfo && !(lastResult && lastResult.case_number);
    recorded.hidden = !noCase;
    recorded.textContent = noCase
      ? (!view.call.live && view.call.hung_up_by === "caller" ? T.recorded_caller_gone : T.recorded_no_case)
      : "";
    var flags = $("call-flags");
    clear(flags);
    view.flags.forEach(function (item) {
      flags.appendChild(make("p", { text: T.g2_warning + " 「" + item.phrase + "」: " + item.excerpt }));
    });
    flags.hidden = view.flags.length === 0;
  }

  $("send-sms").addEventListener("click", function () {
    enqueue(function () {
      return send("POST", root.dataset.smsUrl, {}).then(function (data) {
        if (data) { $("send-sms").disabled = true; $("send-sms").textContent = T.sms_sent; }
      });
    });
  });

  // G2 while typing: warn before the text is saved.
  var checkTimers = {};
  Array.prototype.forEach.call(root.querySelectorAll("textarea[data-check]"), function (area) {
    area.addEventListener("input", function () {
      clearTimeout(checkTimers[area.name]);
      checkTimers[area.name] = setTimeout(function () {
        send("POST", root.dataset.checkUrl, { text: area.value }).then(function (data) {
          var box = root.querySelector('.g2-warning[data-for="' + area.name + '"]');
          if (!data || !box) { return; }
          box.textContent = data.flags.length
            ? T.g2_warning + " " + data.flags.map(function (f) { return "「" + f.phrase + "」"; }).join("、")
            : "";
          box.hidden = data.flags.length === 0;
        });
      }, 400);
    });
  });

  // -- the call ------------------------------------------------------------------

  function renderHead() {
    var call = view.call;
    var state = call.live ? T.live : T.ended + (call.hung_up_by === "caller" ? " · " + T.hung_up_caller
      : call.hung_up_by === "operator" ? " · " + T.hung_up_operator : "");
    $("call-state").textContent = state;
    $("call-state").className = "call-state " + (call.live ? "live" : "ended");
    var ring = $("call-ring");
    if (call.ring_to_answer_seconds !== null && call.ring_to_answer_seconds !== undefined) {
      ring.textContent = fmt(T.ring, { seconds: Math.round(call.ring_to_answer_seconds) }) +
        (call.within_ring_limit ? "" : " · " + T.ring_over);
      ring.className = "call-ring " + (call.within_ring_limit ? "ok" : "over");
    }
    $("end-call").hidden = !call.live || !call.mine;
  }

  $("end-call").addEventListener("click", function () {
    if (!window.confirm(T.end_confirm)) { return; }
    enqueue(function () { return post(root.dataset.endUrl, {}); });
  });

  function refresh() {
    return enqueue(function () { return send("GET", root.dataset.viewUrl).then(accept); });
  }

  // -- the next action: one main button, with the focus -------------------------

  var focusedFor = null;

  function nextAction() {
    return (view.script && view.script.next) || { kind: "none" };
  }

  function nextElement() {
    var next = nextAction();
    switch (next.kind) {
      case "complete": return $("step-complete");
      case "read_back": return $("confirm-read-back");
      case "hand_over": return $("step-dispatch");
      case "answer": return root.querySelector('#step-answers button[data-answer="' + next.answer + '"]');
      case "submit":
        if (next.outcome === "join") {
          return root.querySelector("#similar-cases .join-case") || $("submit-dispatch");
        }
        return root.querySelector('#outcome-box [data-outcome="' + next.outcome + '"]');
      case "home": return $("back-home");
      default: return null;
    }
  }

  // Where the operator's next input goes: the step's first empty box, else the main button.
  function focusTarget(main) {
    var next = nextAction();
    if (next.kind === "complete") {
      var empty = Array.prototype.filter.call(
        root.querySelectorAll("#step-captures input, #step-captures textarea"),
        function (input) { return !input.value; });
      if (empty.length) { return empty[0]; }
    }
    if (next.kind === "submit" && next.outcome === "answer_on_call") {
      var answer = root.querySelector('#case-form [name="answer"]');
      if (answer && !answer.value.trim()) { return answer; }
    }
    if (next.kind === "submit" && next.outcome === "transfer") {
      var department = root.querySelector('#case-form [name="target_department_id"]');
      if (department && !department.value) { return department; }
    }
    if (next.kind === "choose") { return root.querySelector("#step-answers button"); }
    return main;
  }

  function renderNext() {
    var next = nextAction();
    $("step-dispatch").hidden = next.kind !== "hand_over";
    var main = nextElement();
    Array.prototype.forEach.call(root.querySelectorAll(".primary"), function (node) {
      if (node !== main) { node.classList.remove("primary"); }
    });
    if (main) { main.classList.add("primary"); }
    root.dataset.next = next.kind + (next.outcome ? ":" + next.outcome : "") + (next.answer ? ":" + next.answer : "");
    // Move the focus only when the next thing to do changed, so a poll never
    // takes it from a box the operator is typing in.
    var key = (view.script && view.script.current ? view.script.current.id : "") + "|" + root.dataset.next +
      "|" + view.call.recorded;
    if (key !== focusedFor) {
      focusedFor = key;
      var target = focusTarget(main);
      if (target && !target.disabled) { target.focus(); }
    }
  }

  function doNext() {
    var main = nextElement();
    if (main && !main.disabled && !main.hidden) { main.click(); return true; }
    return false;
  }

  // Enter in the step's own boxes finishes the step (Shift+Enter: a new line).
  $("step-captures").addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || event.shiftKey || event.altKey || event.isComposing || event.keyCode === 229) { return; }
    event.preventDefault();
    var next = nextAction();
    if (next.kind === "complete") { $("step-complete").click(); } else { doNext(); }
  });

  // Keyboard shortcuts (the list is in the 快捷键 popover and docs/operators.md).
  function visible(id) {
    var node = $(id);
    return node && !node.hidden && !node.disabled && node.offsetParent !== null ? node : null;
  }

  document.addEventListener("keydown", function (event) {
    if (!event.altKey || event.ctrlKey || event.metaKey) { return; }
    var code = event.code || "";
    var target = null;
    if (code === "Enter" || code === "NumpadEnter") {
      event.preventDefault();
      doNext();
      return;
    }
    var digit = /^(?:Digit|Numpad)([1-9])$/.exec(code);
    if (digit) {
      target = root.querySelectorAll("#step-answers button")[Number(digit[1]) - 1] || null;
    } else if (code === "KeyR") {
      target = visible("confirm-read-back");
    } else if (code === "KeyC") {
      target = visible("correct-read-back");
    } else if (code === "KeyS") {
      target = visible("step-skip");
    } else if (code === "KeyN") {
      target = visible("prompt-not-heard");
    } else if (code === "KeyL") {
      target = visible("lookup-reassure") || visible("lookup-start");
    } else if (code === "KeyE") {
      target = visible("lookup-end");
    } else if (code === "KeyH") {
      event.preventDefault();
      $("shortcut-help").open = !$("shortcut-help").open;
      return;
    } else {
      return;
    }
    event.preventDefault();
    if (target && !target.disabled) { target.click(); }
  });

  function render() {
    renderHead();
    renderCaller();
    renderScript();
    fillFields();
    renderCase();
    renderNext();
  }

  render();
  // The caller may hang up at any moment: follow the call live, and poll as a fallback.
  if (window.hotlineSocket) {
    window.hotlineSocket.on("call_ended", function (payload) {
      if (payload && payload.call_id === view.call.id) { refresh(); }
    });
    // An incident posted an update: the caller column shows the latest one.
    window.hotlineSocket.on("incident_update", function () { if (view.call.live) { refresh(); } });
  }
  setInterval(function () { if (view.call.live) { refresh(); } }, 10000);
})();
