// JSON requests from the console pages: same-origin, with the CSRF header.
// makeSender(csrf, showError) returns send(method, url, body), a promise of
// the response body, or of null after showError(body) showed the refusal.
(function () {
  "use strict";
  window.callflowsRequest = {
    makeSender: function (csrf, showError) {
      return function send(method, url, body) {
        var options = {
          method: method,
          credentials: "same-origin",
          headers: { "Accept": "application/json", "X-CSRFToken": csrf }
        };
        if (body !== undefined) {
          options.headers["Content-Type"] = "application/json";
          options.body = JSON.stringify(body);
        }
        return fetch(url, options).then(function (response) {
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
