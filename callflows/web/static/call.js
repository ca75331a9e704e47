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
    var message = (body && body.message) || String(body);
    if (body && body.rule === "P4") { message = T.p4_refused + " — " + message; }
    var where = [];
    if (body && body.field) { where.push(body.field); }
    if (body && body.rule) { where.push(body.rule); }
    if (body && body.missing && body.missing.length) { where.push(body.missing.join(", ")); }
    box.textContent = T.error + ": " + message + (where.length ? " (" + where.join(" · ") + ")" : "");
    box.hidden = false;
  }

  function clearError() { $("console-error").hidden = true; }

  var send = window.callflowsRequest.makeSender(root.dataset.csrf, showError);

  // Requests that change the call run one after another.
  function enqueue(task) {
    queue = queue.then(task, task);
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
      $("step-note").textContent = [step.note_zh, step.note_en].filter(Boolean).join(" / ");
      $("step-box").dataset.step = step.id;
      if (renderedStep !== step.id) {
        var captures = $("step-captures");
        clear(captures);
        step.captures.forEach(function (field) { captures.appendChild(captureInput(field)); });
        var answers = $("step-answers");
        clear(answers);
        step.answers.forEach(function (branch) {
          var button = make("button", { type: "button", className: "answer", text: english ? branch.en : branch.zh });
          button.setAttribute("data-answer", branch.answer);
          button.addEventListener("click", function () { withCaptures([["answer", { answer: branch.answer }]]); });
          answers.appendChild(button);
        });
        renderedStep = step.id;
      }
      $("step-complete").hidden = step.answers.length > 0 || !live;
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
      var text = (record.status === "done" ? "✓ " : "– ") + record.at + " " + record.zh +
        (record.answer_zh ? " → " + record.answer_zh : "");
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
    line.textContent = prompt.zh + " / " + prompt.en;
    line.dataset.kind = kind;
    line.className = "prompt-line";
    line.hidden = false;
  }

  $("step-complete").addEventListener("click", function () { withCaptures([["complete"]]); });
  $("step-skip").addEventListener("click", function () { scriptOps([["skip"]]); });
  $("confirm-read-back").addEventListener("click", function () { withCaptures([["confirm_read_back"]]); });
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
      var promised = lastResult && lastResult.promised_at ? lastResult.promised_at : (caseInfo && caseInfo.promised_at);
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

  function render() {
    renderHead();
    renderCaller();
    renderScript();
    fillFields();
    renderCase();
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
