// Shared WebAuthn helpers for passkey.js (sign-in) and passkey-register.js (enrolment):
// base64url conversion, the JSON form of credentials, and CSRF-protected POSTs. Loaded first.
(function () {
  "use strict";
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
  // credentialJSON is PublicKeyCredential.toJSON for browsers that lack it.
  function credentialJSON(c) {
    if (c.toJSON) return c.toJSON();
    var r = c.response, resp = { clientDataJSON: bufToB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      resp.attestationObject = bufToB64url(r.attestationObject);
      resp.transports = r.getTransports ? r.getTransports() : [];
    } else {
      resp.authenticatorData = bufToB64url(r.authenticatorData);
      resp.signature = bufToB64url(r.signature);
      resp.userHandle = r.userHandle ? bufToB64url(r.userHandle) : null;
    }
    return {
      id: c.id, rawId: bufToB64url(c.rawId), type: c.type,
      authenticatorAttachment: c.authenticatorAttachment || null,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: resp
    };
  }
  // post sends JSON with the page's CSRF token; a refusal rejects with the server's message
  // (already translated, marked fromServer), or fallback.
  function post(url, body, fallback) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {})
    }).then(function (resp) {
      return resp.json().then(function (j) {
        if (!resp.ok) {
          var e = new Error(j.error || fallback || "");
          e.fromServer = !!(j.error || fallback);
          throw e;
        }
        return j;
      });
    });
  }
  // errorKeys map the DOMException names WebAuthn rejects with to the error box's data
  // attributes: the browser's own message is in its language, often with a link into the
  // specification, so the page shows its own translated text instead.
  var errorKeys = {
    NotAllowedError: "msgNotAllowed", InvalidStateError: "msgInvalidState",
    SecurityError: "msgSecurity", NotSupportedError: "msgNotSupported",
    ConstraintError: "msgConstraint", UnknownError: "msgUnknown"
  };
  // message is what to show for e in the box with id, or "" for nothing: an AbortError is
  // our own cancelling of a request. A failed fetch or an answer that is not JSON is the
  // network or the server, not the key.
  function message(id, e) {
    var d = (document.getElementById(id) || {}).dataset || {};
    e = e || {};
    if (e.name === "AbortError") return "";
    if (e.fromServer && e.message) return e.message;
    if (errorKeys[e.name]) return d[errorKeys[e.name]] || d.msgUnknown || "";
    if (e.name === "TypeError" || e.name === "SyntaxError") return d.msgNetwork || d.msgUnknown || "";
    return d.msgUnknown || "";
  }
  function showError(id, msg) {
    if (!msg) return;
    var el = document.getElementById(id);
    if (!el) { alert(msg); return; }
    el.textContent = msg; el.hidden = false; el.focus && el.focus();
  }
  // fail shows the page's message for e in the box with id.
  function fail(id, e) { showError(id, message(id, e)); }
  window.MyAccountWebAuthn = { b64urlToBuf: b64urlToBuf, credentialJSON: credentialJSON, post: post, showError: showError, message: message, fail: fail };
})();
