// Progressive enhancement: preselect the browser's time zone when the person has not chosen
// one, and update the region list in place when the country changes.
(function () {
  var tz = document.getElementById("zoneinfo");
  if (tz && tz.dataset.guess === "1" && window.Intl) {
    var guess = Intl.DateTimeFormat().resolvedOptions().timeZone;
    for (var i = 0; i < tz.options.length; i++) {
      if (tz.options[i].value === guess) { tz.selectedIndex = i; break; }
    }
  }
  // A new country updates the region list in place: no reload, so focus and typing stay
  // where they are (typing "Ger" in the list must land on Germany, not reload on "G").
  var country = document.getElementById("country");
  var field = document.getElementById("region-field");
  var region = document.getElementById("region");
  var button = document.getElementById("show-regions");
  if (country && field && region && window.fetch) {
    if (button) button.hidden = true;
    var first = region.options[0] ? region.options[0].textContent : "";
    var seq = 0;
    country.addEventListener("change", function () {
      var mine = ++seq;
      fetch("/profile/regions?country=" + encodeURIComponent(country.value), { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          if (mine !== seq) return; // a later choice won
          while (region.options.length) region.remove(0);
          region.add(new Option(first, ""));
          data.regions.forEach(function (rg) { region.add(new Option(rg.name, rg.code)); });
          field.hidden = data.regions.length === 0;
          region.removeAttribute("aria-invalid");
          var err = document.getElementById("region-error");
          if (err) err.remove();
          if (tz && tz.dataset.guess === "1" && data.zone) tz.value = data.zone;
        })
        .catch(function () { if (button) button.hidden = false; });
    });
  }
})();
