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
  if (message && !window.confirm(message)) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }
}, true);

// The printout's header says when it was printed (the page may have been open for hours).
window.addEventListener("beforeprint", function () {
  var stamp = document.getElementById("printed-at");
  if (!stamp) { return; }
  // In the clinic's zone and the server's format ("02 Dec 2026 14:05"), whatever the browser's zone.
  var parts = {};
  var months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  new Intl.DateTimeFormat("en-GB", { timeZone: stamp.getAttribute("data-zone") || undefined,
    day: "2-digit", month: "numeric", year: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
    .formatToParts(new Date()).forEach(function (part) { parts[part.type] = part.value; });
  stamp.textContent = parts.day + " " + months[Number(parts.month) - 1] + " " + parts.year + " " +
    parts.hour + ":" + parts.minute;
});

// "Print" buttons (no inline handlers under the CSP).
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) { window.print(); }
});
