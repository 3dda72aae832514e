// Payments: print buttons, and the payment form shows only the chosen method's fields.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-print]")) { window.print(); }
  });
  function showMethod(root) {
    var select = root.querySelector("#payment-method");
    if (!select) { return; }
    root.querySelectorAll("#payment-form [data-method]").forEach(function (el) {
      el.hidden = el.getAttribute("data-method").split(" ").indexOf(select.value) < 0;
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.id === "payment-method") { showMethod(document); }
  });
  document.addEventListener("DOMContentLoaded", function () { showMethod(document); });
  document.addEventListener("htmx:afterSettle", function () { showMethod(document); });
}());
