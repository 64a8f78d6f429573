// WebAuthn in the browser, the registration side: adding a security key or passkey on the
// security page. The server does every check; this only carries options and results.
(function () {
  "use strict";
  var button = document.getElementById("passkey-register");
  if (!button) return;
  if (!window.PublicKeyCredential || !window.MyAccountWebAuthn || !navigator.credentials || !navigator.credentials.create) {
    var note = document.getElementById("passkey-unsupported");
    if (note) note.hidden = false;
    return;
  }
  var box = document.getElementById("passkey-add");
  if (box) box.hidden = false;
  var W = window.MyAccountWebAuthn;
  // creationOptions turns the server's JSON into what navigator.credentials.create takes.
  function creationOptions(o) {
    var pk = o.publicKey || o;
    if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(pk);
    pk.challenge = W.b64urlToBuf(pk.challenge);
    pk.user.id = W.b64urlToBuf(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = W.b64urlToBuf(c.id); });
    return pk;
  }
  function post(url, body) { return W.post(url, body, button.dataset.msgFailed); }
  var credentialJSON = W.credentialJSON;
  function showError(msg) { W.showError("passkey-error", msg); }
  function hideError() {
    var el = document.getElementById("passkey-error");
    if (el) el.hidden = true;
  }

  button.addEventListener("click", function () {
    var name = document.getElementById("passkey-name");
    button.disabled = true;
    hideError();
    post(button.dataset.begin).then(function (j) {
      return navigator.credentials.create({ publicKey: creationOptions(j.options) }).then(function (cred) {
        return post(button.dataset.finish, {
          handle: j.handle, name: name ? name.value : "", credential: credentialJSON(cred),
          enrol: button.dataset.enrol === "1", authRequestID: button.dataset.authRequestId || ""
        });
      });
    }).then(function (j) { window.location.assign(j.redirect); })
      .catch(function (e) {
        button.disabled = false;
        // The browser's own messages (cancelled, timed out, already registered) are in its
        // language and wording; the page's are translated. InvalidStateError on creation
        // means this authenticator is registered already.
        if (e.name === "InvalidStateError") showError(button.dataset.msgDuplicate);
        else showError(W.message("passkey-error", e) || button.dataset.msgFailed);
      });
  });
})();
