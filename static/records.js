// Records: the note's autosave state (warn before leaving unsaved text, keep a local copy through an
// expired session, hold "sign" while a save is pending). No inline handlers (CSP).
(function () {
  function noteForm() { return document.getElementById("note-form"); }
  function storageKey(form) { return "kliniki-note-" + form.dataset.consultation; }
  var dirty = false;

  function setDirty(value) {
    dirty = value;
    var sign = document.getElementById("sign-note");
    if (sign) { sign.disabled = value; sign.title = value ? "Saving the note first…" : ""; }
  }

  function keepLocalCopy(form) {
    var copy = { version: form.querySelector("#note-version").value, fields: {} };
    form.querySelectorAll("textarea").forEach(function (area) { copy.fields[area.name] = area.value; });
    try { window.localStorage.setItem(storageKey(form), JSON.stringify(copy)); } catch (e) { /* private mode */ }
  }

  // After signing in again, the text typed after the last save comes back, and is saved.
  function restoreLocalCopy(form) {
    var raw = null;
    try { raw = window.localStorage.getItem(storageKey(form)); } catch (e) { return; }
    if (!raw) { return; }
    var copy;
    try { copy = JSON.parse(raw); } catch (e) { return; }
    if (!copy || copy.version !== form.querySelector("#note-version").value) {
      try { window.localStorage.removeItem(storageKey(form)); } catch (e) { /* ignore */ }
      return;
    }
    var changed = false;
    form.querySelectorAll("textarea").forEach(function (area) {
      if (typeof copy.fields[area.name] === "string" && copy.fields[area.name] !== area.value) {
        area.value = copy.fields[area.name];
        changed = true;
      }
    });
    if (changed) {
      setDirty(true);
      var status = document.getElementById("save-status");
      if (status) { status.textContent = "Restored your unsaved text; saving…"; }
      window.htmx.trigger(form, "submit");
    }
  }

  document.addEventListener("input", function (event) {
    var form = noteForm();
    if (form && form.contains(event.target)) {
      setDirty(true);
      keepLocalCopy(form);
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var form = noteForm();
    if (!form || event.detail.elt !== form) { return; }
    if (event.detail.successful) {
      setDirty(false);
      try { window.localStorage.removeItem(storageKey(form)); } catch (e) { /* ignore */ }
    }
  });

  // An expired session sends the browser to sign in: the local copy stays, the leave warning does not.
  document.addEventListener("htmx:beforeOnLoad", function (event) {
    if (event.detail.xhr && event.detail.xhr.status === 401) { dirty = false; }
  });

  window.addEventListener("beforeunload", function (event) {
    if (dirty) { event.preventDefault(); event.returnValue = ""; }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var form = noteForm();
    if (form) { restoreLocalCopy(form); }
  });
})();
