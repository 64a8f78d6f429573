// A show-password toggle after every password field: a real button (Tab reaches it, Enter
// and Space press it, aria-pressed tells screen readers its state) that shows the password
// as text and hides it again. The labels come translated on the script tag (data-show, the
// visible word; data-label, the full name). Without JavaScript the fields stay as they are.
(function () {
  "use strict";
  var me = document.currentScript;
  var word = (me && me.dataset.show) || "Show";
  var name = (me && me.dataset.label) || "Show password";
  var fields = document.querySelectorAll('input[type="password"]');
  Array.prototype.forEach.call(fields, function (input) {
    if (input.hidden || input.dataset.reveal === "off") return;
    var b = document.createElement("button");
    b.type = "button"; // never the form's default: Enter in a field still submits it
    b.className = "reveal";
    b.textContent = word;
    b.setAttribute("aria-label", name);
    b.setAttribute("aria-pressed", "false");
    if (input.id) b.setAttribute("aria-controls", input.id);
    function set(shown) {
      input.type = shown ? "text" : "password";
      b.setAttribute("aria-pressed", shown ? "true" : "false");
    }
    b.addEventListener("click", function () { set(input.type === "password"); });
    input.insertAdjacentElement("afterend", b);
    // Sent as a password field: browsers then offer to save it as one, and do not keep it
    // in their history of typed text.
    if (input.form) input.form.addEventListener("submit", function () { set(false); });
  });
})();
