// Progressive enhancement of the registration form; without it the server does every check.
// - "New numbers" loads a new picture and recording in place, so nothing typed is lost.
// - Before sending, the page checks the password (length, match, and what the server says
//   about common passwords), so a slip is caught before the captcha is used up.
(function () {
  var form = document.getElementById("register-form");
  if (!form) return;
  var csrf = form.elements.csrf_token.value;
  var post = function (url, fields) {
    var body = new URLSearchParams(fields);
    body.set("csrf_token", csrf);
    return fetch(url, { method: "POST", body: body, credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); });
  };
  // showError puts msg under the field (or clears it), announced and linked for screen readers.
  var showError = function (name, msg) {
    var input = document.getElementById(name);
    if (!input) return;
    var id = name + "-error";
    var el = document.getElementById(id);
    if (!msg) {
      if (el && el.dataset.client) el.remove();
      input.removeAttribute("aria-invalid");
      return;
    }
    if (!el) {
      el = document.createElement("p");
      el.className = "field-error";
      el.id = id;
      el.setAttribute("role", "alert");
      el.dataset.client = "1";
      input.insertAdjacentElement("afterend", el);
    }
    el.textContent = msg;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", id);
  };

  var reload = document.getElementById("captcha-reload");
  if (reload) {
    reload.addEventListener("click", function (ev) {
      ev.preventDefault();
      reload.disabled = true;
      post("/register/captcha", { form_id: form.elements.form_id.value }).then(function (res) {
        reload.disabled = false;
        if (!res.ok) { showError("captcha", res.body.error || ""); return; }
        document.getElementById("captcha-image").src = res.body.image;
        var audio = document.getElementById("captcha-audio");
        if (audio) audio.src = res.body.audio;
        form.elements.captcha_id.value = res.body.id;
        var input = document.getElementById("captcha");
        input.value = "";
        showError("captcha", "");
        input.focus();
      }).catch(function () { reload.disabled = false; });
    });
  }

  var checked = false;
  form.addEventListener("submit", function (ev) {
    if (checked || (ev.submitter && ev.submitter.value === "reload")) return;
    ev.preventDefault();
    var pw = document.getElementById("password"), confirm = document.getElementById("confirm");
    var min = parseInt(pw.getAttribute("minlength") || "0", 10);
    var problems = {};
    if (Array.from(pw.value).length < min) problems.password = form.dataset.msgShort;
    else if (pw.value !== confirm.value) problems.confirm = form.dataset.msgMismatch;
    var finish = function () {
      showError("password", problems.password || "");
      showError("confirm", problems.confirm || "");
      var first = problems.password ? pw : problems.confirm ? confirm : null;
      if (first) { first.focus(); return; }
      checked = true;
      form.requestSubmit(form.querySelector('button[value="create"]:not([hidden])'));
    };
    if (problems.password || problems.confirm) { finish(); return; }
    post("/register/check", { password: pw.value, email: form.elements.email.value }).then(function (res) {
      if (res.ok && res.body.problem) problems.password = res.body.problem;
      finish();
    }).catch(finish); // the server checks again anyway
  });
})();
