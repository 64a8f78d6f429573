// A form sent once: a second press of its button (the double-click, Enter pressed again)
// while the first submission is on its way is not sent. The pressed button says so with
// aria-disabled, which keeps it focusable and keeps its name and value in the submission the
// server reads (a disabled button's would be left out). It is released after a few seconds,
// so that a slow answer can still be sent again on purpose, and when the page comes back
// from the back/forward cache. The listener is on the document, so it runs after a form's own
// listeners: a submission another script cancelled (ev.defaultPrevented, as register.js's
// check before it sends) is not counted. Without JavaScript forms work as they always did.
(function () {
  "use strict";
  var holdMs = 4000;
  var held = [];

  function release() {
    held.forEach(function (h) {
      clearTimeout(h.timer);
      delete h.form.dataset.sending;
      if (h.button) h.button.removeAttribute("aria-disabled");
    });
    held = [];
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (ev.defaultPrevented || !(form instanceof HTMLFormElement) || form.method !== "post") return;
    if (form.dataset.sending === "1") {
      ev.preventDefault(); // the first submission is on its way
      return;
    }
    form.dataset.sending = "1";
    var h = { form: form, button: ev.submitter || null };
    if (h.button) h.button.setAttribute("aria-disabled", "true");
    h.timer = setTimeout(function () {
      delete form.dataset.sending;
      if (h.button) h.button.removeAttribute("aria-disabled");
      held = held.filter(function (x) { return x !== h; });
    }, holdMs);
    held.push(h);
  });

  window.addEventListener("pageshow", function (ev) {
    if (ev.persisted) release(); // back from the back/forward cache: the page is live again
  });
})();
