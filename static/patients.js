// Patients: keyboard moves through search results; profile tabs mark the selected one.
(function () {
  function hits() { return Array.prototype.slice.call(document.querySelectorAll("#patient-results .patient-hit")); }

  document.addEventListener("keydown", function (event) {
    var box = document.getElementById("patient-search-box");
    if (!box) { return; }
    var list = hits();
    var index = list.indexOf(document.activeElement);
    if (event.key === "ArrowDown") {
      if (document.activeElement === box && list.length) { list[0].focus(); event.preventDefault(); }
      else if (index >= 0 && index < list.length - 1) { list[index + 1].focus(); event.preventDefault(); }
    } else if (event.key === "ArrowUp" && index >= 0) {
      (index === 0 ? box : list[index - 1]).focus();
      event.preventDefault();
    } else if (event.key === "Escape" && index >= 0) {
      box.focus();
      event.preventDefault();
    } else if (event.key === "/" && document.activeElement.tagName !== "INPUT" &&
               document.activeElement.tagName !== "TEXTAREA") {
      box.focus();
      event.preventDefault();
    }
  });

  // Enter in the box opens the only (or first) result instead of reloading the page.
  document.addEventListener("submit", function (event) {
    if (!event.target.matches || !event.target.matches("form.patient-search")) { return; }
    var list = hits();
    if (list.length === 1) { event.preventDefault(); window.location.href = list[0].href; }
  });

  var savedDetails = null;
  document.addEventListener("click", function (event) {
    var tab = event.target.closest ? event.target.closest("[role=tab]") : null;
    if (!tab) { return; }
    var panel = document.getElementById("tab-panel");
    if (savedDetails === null && panel && document.getElementById("details-panel")) {
      savedDetails = panel.innerHTML;
    }
    tab.parentNode.querySelectorAll("[role=tab]").forEach(function (other) {
      other.setAttribute("aria-selected", other === tab ? "true" : "false");
    });
    if (tab.hasAttribute("data-tab-static") && panel && savedDetails !== null) {
      panel.innerHTML = savedDetails;
    }
  });
})();
