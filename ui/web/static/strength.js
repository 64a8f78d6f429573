// Progressive enhancement: a password strength hint. The server enforces the real policy.
(function () {
  var pw = document.getElementById("password");
  var out = document.getElementById("strength");
  if (!pw || !out) return;
  var words = (document.documentElement.lang === "de") ? ["sehr schwach", "schwach", "mittel", "gut", "stark"]
    : (document.documentElement.lang === "ru") ? ["очень слабый", "слабый", "средний", "хороший", "надёжный"]
    : ["very weak", "weak", "fair", "good", "strong"];
  pw.addEventListener("input", function () {
    var v = pw.value, classes = 0;
    [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].forEach(function (r) { if (r.test(v)) classes++; });
    var score = Math.min(4, Math.floor(v.length / 6) + (classes > 2 ? 1 : 0));
    if (v.length < 8) score = 0;
    out.textContent = v ? "— " + words[score] : "";
  });
})();
