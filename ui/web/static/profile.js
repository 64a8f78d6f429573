// Progressive enhancement: preselect the browser's time zone when the person has not chosen
// one, and reload the region list when the country changes.
(function () {
  var tz = document.getElementById("zoneinfo");
  if (tz && tz.dataset.guess === "1" && window.Intl) {
    var guess = Intl.DateTimeFormat().resolvedOptions().timeZone;
    for (var i = 0; i < tz.options.length; i++) {
      if (tz.options[i].value === guess) { tz.selectedIndex = i; break; }
    }
  }
  var country = document.getElementById("country");
  if (country) {
    country.addEventListener("change", function () {
      var form = country.form, flag = document.createElement("input");
      flag.type = "hidden"; flag.name = "action"; flag.value = "country";
      form.appendChild(flag); form.submit();
    });
  }
})();
