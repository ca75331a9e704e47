// JSON requests from the console pages: same-origin, with the CSRF header.
// makeSender(csrf, showError) returns send(method, url, body), a promise of
// the response body, or of null after showError(body) showed the refusal.
// Each POST carries an Idempotency-Key of its own; when the network drops the
// answer, the same submission is sent once more with the same key, and the
// server answers it without saving anything twice.
(function () {
  "use strict";
  function newKey() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    return "k-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }
  window.callflowsRequest = {
    newKey: newKey,
    makeSender: function (csrf, showError) {
      return function send(method, url, body) {
        var options = {
          method: method,
          credentials: "same-origin",
          headers: { "Accept": "application/json", "X-CSRFToken": csrf }
        };
        if (method === "POST") { options.headers["Idempotency-Key"] = newKey(); }
        if (body !== undefined) {
          options.headers["Content-Type"] = "application/json";
          options.body = JSON.stringify(body);
        }
        var attempt = function () { return fetch(url, options); };
        var sent = attempt().catch(function (error) {
          if (method !== "POST") { throw error; }
          return new Promise(function (resolve) { setTimeout(resolve, 1000); }).then(attempt);
        });
        return sent.then(function (response) {
          return response.json().catch(function () { return { message: response.statusText }; })
            .then(function (data) {
              if (!response.ok) { showError(data); return null; }
              return data;
            });
        }, function (error) { showError({ message: String(error) }); return null; });
      };
    }
  };
})();
