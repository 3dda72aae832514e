// Schedule page behaviour that htmx attributes cannot express (the CSP forbids inline handlers).
(function () {
  "use strict";

  // When a booking form or appointment arrives in the side panel, move focus into it.
  document.addEventListener("htmx:afterSwap", function (event) {
    var panel = document.getElementById("panel");
    if (!panel || event.detail.target !== panel) { return; }
    var field = panel.querySelector("input[type=search], select, button, a");
    if (field) { field.focus({ preventScroll: true }); }
    panel.scrollIntoView({ block: "nearest" });
  });

  // Do not poll while a request from the panel is in flight: the grid refresh could race it.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var grid = document.getElementById("grid");
    if (grid && event.detail.elt === grid && document.querySelector("#panel .htmx-request")) {
      event.preventDefault();
    }
  });
})();
