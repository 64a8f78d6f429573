// WebAuthn in the browser: passkey sign-in on the sign-in page (a button, and autofill through
// conditional mediation where supported) and the security-key step of two-step verification.
// The server does every check; this only carries options and results.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !window.MyAccountWebAuthn) return;
  var W = window.MyAccountWebAuthn;
  var post = W.post, credentialJSON = W.credentialJSON;
  function fail(e) { W.fail("webauthn-error", e); }
  // requestOptions turns the server's JSON into what navigator.credentials.get takes.
  function requestOptions(o) {
    var pk = o.publicKey || o;
    if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(pk);
    pk.challenge = W.b64urlToBuf(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = W.b64urlToBuf(c.id); });
    return pk;
  }
  function field(name) {
    var el = document.querySelector('input[name="' + name + '"]');
    return el ? el.value : "";
  }

  // Two-step verification: the security-key button.
  var verify = document.getElementById("webauthn-verify");
  if (verify) {
    verify.addEventListener("click", function () {
      verify.disabled = true;
      var remember = document.querySelector('input[name="remember"]');
      post(verify.dataset.begin).then(function (j) {
        return navigator.credentials.get({ publicKey: requestOptions(j.options) }).then(function (cred) {
          return post(verify.dataset.finish, { handle: j.handle, credential: credentialJSON(cred), remember: !!(remember && remember.checked) });
        });
      }).then(function (j) { window.location.assign(j.redirect); })
        .catch(function (e) { verify.disabled = false; fail(e); });
    });
  }

  // Sign-in page: passkeys without typing an email.
  var button = document.getElementById("passkey-signin");
  if (!button) return;
  button.hidden = false;
  var pending = null; // the conditional request, aborted when the button starts its own
  var finishing = false; // one credential is enough: a second finish would lose the redirect
  function signIn(mediation) {
    var abort = new AbortController();
    if (mediation) pending = abort;
    return post("/passkey/begin").then(function (j) {
      var req = { publicKey: requestOptions(j.options), signal: abort.signal };
      if (mediation) req.mediation = mediation;
      return navigator.credentials.get(req);
    }).then(function (cred) {
      if (!cred || finishing || abort.signal.aborted) return null;
      finishing = true;
      return post("/passkey/finish", { credential: credentialJSON(cred), authRequestID: field("authRequestID"), "return": field("return") });
    }).then(function (j) { if (j) window.location.assign(j.redirect); },
      function (e) { finishing = false; throw e; });
  }
  button.addEventListener("click", function () {
    if (pending) { pending.abort(); pending = null; }
    signIn(null).catch(fail);
  });
  if (PublicKeyCredential.isConditionalMediationAvailable) {
    PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
      // Autofill fails quietly when the person picks no passkey and types a password.
      if (ok) signIn("conditional").catch(function (e) { if (e.name !== "NotAllowedError") fail(e); });
    });
  }
})();
