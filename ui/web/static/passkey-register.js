// WebAuthn in the browser, the registration side: adding a security key or passkey on the
// security page. The server does every check; this only carries options and results.
(function () {
  "use strict";
  var button = document.getElementById("passkey-register");
  if (!button) return;
  if (!window.PublicKeyCredential || !navigator.credentials || !navigator.credentials.create) {
    var note = document.getElementById("passkey-unsupported");
    if (note) note.hidden = false;
    return;
  }
  var box = document.getElementById("passkey-add");
  if (box) box.hidden = false;
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function b64urlToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), buf = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) buf[i] = bin.charCodeAt(i);
    return buf.buffer;
  }
  function bufToB64url(buf) {
    var bytes = new Uint8Array(buf), s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  // creationOptions turns the server's JSON into what navigator.credentials.create takes.
  function creationOptions(o) {
    var pk = o.publicKey || o;
    if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(pk);
    pk.challenge = b64urlToBuf(pk.challenge);
    pk.user.id = b64urlToBuf(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
    return pk;
  }
  function credentialJSON(c) {
    if (c.toJSON) return c.toJSON();
    var r = c.response;
    return {
      id: c.id, rawId: bufToB64url(c.rawId), type: c.type,
      authenticatorAttachment: c.authenticatorAttachment || null,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: {
        clientDataJSON: bufToB64url(r.clientDataJSON), attestationObject: bufToB64url(r.attestationObject),
        transports: r.getTransports ? r.getTransports() : []
      }
    };
  }
  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {})
    }).then(function (resp) {
      return resp.json().then(function (j) {
        if (!resp.ok) throw new Error(j.error || button.dataset.msgFailed);
        return j;
      });
    });
  }
  function showError(msg) {
    var el = document.getElementById("passkey-error");
    if (!el) { alert(msg); return; }
    el.textContent = msg; el.hidden = false; el.focus && el.focus();
  }
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
        // language and wording; the page's are translated.
        if (e.name === "InvalidStateError") showError(button.dataset.msgDuplicate);
        else if (e.name && e.name !== "Error") showError(button.dataset.msgFailed);
        else showError(e.message || button.dataset.msgFailed);
      });
  });
})();
