// Schedule page behaviour that htmx attributes cannot express (the CSP forbids inline handlers).
(function () {
  "use strict";

  function dayPanel() { return document.querySelector(".day-layout #panel"); }
  var opener = null;  // what opened the side panel: focus goes back there when it closes
  var openerCell = null;  // the id around it: a refreshed grid replaces the element itself

  // When a booking form or appointment arrives in the side panel, move focus into it
  // (app.js has already moved it to an error, when the answer carries one).
  document.addEventListener("htmx:afterSwap", function (event) {
    var panel = document.getElementById("panel");
    if (!panel || event.detail.target !== panel) { return; }
    if (panel.querySelector(".alert-error[role=alert]") && panel.contains(document.activeElement)) { return; }
    var field = panel.querySelector("input[type=search], select, button, a");
    if (field) { field.focus({ preventScroll: true }); }
    panel.scrollIntoView({ block: "nearest" });
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var grid = document.getElementById("grid");
    // Do not poll while a request from the panel is in flight: the grid refresh could race it.
    if (grid && event.detail.elt === grid && document.querySelector("#panel .htmx-request")) {
      event.preventDefault();
      return;
    }
    var panel = dayPanel();
    if (panel && event.detail.target === panel && !panel.contains(event.detail.elt)) {
      opener = event.detail.elt;
      openerCell = opener.closest("[id]") ? opener.closest("[id]").id : null;
    }
  });

  // Esc closes the side panel on the day grid: back to its hint, focus back on the slot that opened it.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || event.defaultPrevented) { return; }
    var panel = dayPanel();
    if (!panel || panel.querySelector(":scope > p.hint:only-child")) { return; }
    var active = document.activeElement;
    // Esc first empties a search box that has text (the browser's own behaviour), then closes.
    if (active && active.matches("input[type=search]") && active.value) { return; }
    var hint = document.createElement("p");
    hint.className = "hint";
    hint.textContent = panel.getAttribute("data-hint") || "";
    panel.replaceChildren(hint);
    var back = opener && opener.isConnected ? opener : null;
    if (!back && openerCell && document.getElementById(openerCell)) {
      var cell = document.getElementById(openerCell);
      back = cell.querySelector("button, a") || cell;
    }
    if (back) { back.focus(); }
    event.preventDefault();
  });

  // The grid refreshes itself every few seconds: keep where it was scrolled to, both ways.
  var scrolled = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var frame = document.querySelector("#grid .grid-scroll");
    if (frame && event.detail.target && event.detail.target.id === "grid") {
      scrolled = { left: frame.scrollLeft, top: frame.scrollTop };
    }
  });
  document.addEventListener("htmx:afterSwap", function () {
    var frame = document.querySelector("#grid .grid-scroll");
    if (frame && scrolled) {
      frame.scrollLeft = scrolled.left;
      frame.scrollTop = scrolled.top;
    }
    scrolled = null;
  });
})();
