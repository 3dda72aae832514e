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

// "Print" buttons (no inline handlers under the CSP).
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) { window.print(); }
});
