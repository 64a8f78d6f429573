// Recovery codes, shown once on the security page: copy, download (.txt) and print. The
// download is made here from the codes on the page (a data: URL): the server never serves
// them again. Without JavaScript the buttons stay hidden and the codes can be written down.
(function () {
  "use strict";
  var box = document.getElementById("code-actions");
  var list = document.getElementById("recovery-codes");
  if (!box || !list) return;
  var codes = Array.prototype.map.call(list.querySelectorAll("code"), function (c) { return c.textContent.trim(); });
  var text = box.dataset.header + "\n\n" + codes.join("\n") + "\n";
  var status = document.getElementById("codes-status");
  function say(msg) { status.textContent = msg; }

  var dl = document.getElementById("codes-download");
  dl.href = "data:text/plain;charset=utf-8," + encodeURIComponent(text);

  document.getElementById("codes-print").addEventListener("click", function () { window.print(); });

  var copy = document.getElementById("codes-copy");
  if (!navigator.clipboard || !navigator.clipboard.writeText) {
    copy.hidden = true; // no Clipboard API (an http:// page): download and print remain
  } else {
    copy.addEventListener("click", function () {
      navigator.clipboard.writeText(text).then(function () { say(box.dataset.copied); },
        function () { say(box.dataset.copyFailed); });
    });
  }
  box.hidden = false;
})();
