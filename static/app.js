// Kliniki's own script: small, no inline handlers (the CSP forbids them).
(function () {
  function flash() { return document.getElementById("flash"); }

  function showAlert(text) {
    var region = flash();
    if (!region) { return; }
    var alert = document.createElement("p");
    alert.className = "alert alert-error";
    alert.setAttribute("role", "alert");
    alert.textContent = text;
    region.replaceChildren(alert);
    region.scrollIntoView({ block: "nearest" });
  }

  // After a form is answered with an error (a long registration form, a refused duplicate, a stale
  // edit), the message may sit at the top, off-screen: bring it into view and move focus to it
  // (or to the field inside it that the user must fill), so the user is not left at the button.
  document.addEventListener("htmx:afterSwap", function (event) {
    var config = event.detail.requestConfig;
    if (!config || config.verb === "get") { return; }
    var target = event.detail.target;
    var root = target && target.isConnected ? target : (target && target.id && document.getElementById(target.id));
    if (!root) { return; }
    var alert = root.matches(".alert-error[role=alert]") ? root : root.querySelector(".alert-error[role=alert]");
    if (!alert) { return; }
    var field = alert.querySelector("input:not([type=hidden]), textarea, select");
    if (!field) { alert.setAttribute("tabindex", "-1"); }
    (field || alert).focus({ preventScroll: true });
    alert.scrollIntoView({ block: "center" });
  });

  document.addEventListener("htmx:responseError", function () {
    // The server rendered the error into #flash (HX-Retarget); make sure it is seen.
    var region = flash();
    if (region) { region.scrollIntoView({ block: "nearest" }); }
  });

  // No answer at all (network down, server restarting): say so instead of doing nothing.
  document.addEventListener("htmx:sendError", function () {
    showAlert("Kliniki could not be reached. Check the connection and try again; nothing was saved.");
  });
  document.addEventListener("htmx:timeout", function () {
    showAlert("Kliniki took too long to answer. Try again in a moment.");
  });
})();

// Changes that cannot be taken back in one click (cancel, decline, deactivate) carry data-confirm
// on the button or the form: ask first. Capturing at the document runs before htmx's own
// listener on the form, so a "no" stops both the htmx request and a plain submission.
document.addEventListener("submit", function (event) {
  var button = event.submitter;
  var message = (button && button.getAttribute("data-confirm")) || event.target.getAttribute("data-confirm");
  // A checkbox that was ticked when the page came and is now cleared (a doctor's "Active") asks too.
  event.target.querySelectorAll("input[data-confirm-when-cleared]").forEach(function (box) {
    if (!message && box.defaultChecked && !box.checked) { message = box.getAttribute("data-confirm-when-cleared"); }
  });
  if (message && !window.confirm(message)) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }
}, true);

// The printout's header and footer, on every page: @page margin boxes (app.css) with this page's
// words. A constructed stylesheet, since the CSP allows no inline style; the time is taken again
// just before printing (the page may have been open for hours).
(function () {
  function cssString(text) { return '"' + String(text).replace(/[\\"]/g, "\\$&").replace(/\s+/g, " ") + '"'; }

  function stampNow(stamp) {
    var parts = {};
    var months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    // In the clinic's zone and the server's format ("02 Dec 2026 14:05"), whatever the browser's zone.
    new Intl.DateTimeFormat("en-GB", { timeZone: stamp.getAttribute("data-zone") || undefined,
      day: "2-digit", month: "numeric", year: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
      .formatToParts(new Date()).forEach(function (part) { parts[part.type] = part.value; });
    stamp.textContent = parts.day + " " + months[Number(parts.month) - 1] + " " + parts.year + " " +
      parts.hour + ":" + parts.minute;
  }

  var sheet = null;
  function printRules(fresh) {
    var header = document.querySelector(".print-header");
    if (!header || typeof CSSStyleSheet === "undefined" || !document.adoptedStyleSheets) { return; }
    var stamp = document.getElementById("printed-at");
    if (fresh && stamp) { stampNow(stamp); }
    var clinic = header.getAttribute("data-clinic") || "";
    var rule = "@page { @top-left { content: " + cssString(clinic + " · " + header.getAttribute("data-title")) +
      "; } @top-right { content: " + cssString(header.querySelector(".print-stamp").textContent) +
      "; } @bottom-left { content: " + cssString("Confidential patient information · " + clinic) + "; } }";
    if (!sheet) {
      sheet = new CSSStyleSheet();
      document.adoptedStyleSheets = document.adoptedStyleSheets.concat([sheet]);
    }
    sheet.replaceSync(rule);
  }

  printRules(false);
  window.addEventListener("beforeprint", function () { printRules(true); });
})();

// "Print" buttons (no inline handlers under the CSP).
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) { window.print(); }
});
