// Planflow's own script, the only one the pages load besides htmx (no inline script anywhere:
// the Content-Security-Policy forbids it). Every htmx request carries the session's CSRF token,
// which base.html puts on <body data-csrf-token>, in the X-CSRF-Token header the server checks.
"use strict";

document.addEventListener("htmx:configRequest", function (event) {
  var token = document.body.dataset.csrfToken;
  if (token) {
    event.detail.headers["X-CSRF-Token"] = token;
  }
});
