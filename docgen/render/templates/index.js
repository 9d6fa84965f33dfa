(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("catalog-data").textContent);
  var bySlug = {};
  data.objects.forEach(function (o) { bySlug[o.slug] = o; });
  var q = document.getElementById("q");
  var type = document.getElementById("type");
  var complexity = document.getElementById("complexity");
  var count = document.getElementById("count");
  var none = document.getElementById("no-match");
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-slug]"));
  function apply() {
    var words = q.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    rows.forEach(function (row) {
      var o = bySlug[row.getAttribute("data-slug")];
      var ok = !!o &&
        (!type.value || o.type === type.value) &&
        (!complexity.value || o.complexity === complexity.value) &&
        words.every(function (w) { return o.text.indexOf(w) !== -1; });
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = shown + " of " + rows.length + " objects";
    none.hidden = shown !== 0;
  }
  [q, type, complexity].forEach(function (el) {
    el.addEventListener("input", apply);
    el.addEventListener("change", apply);
  });
  document.querySelector("form.filters").addEventListener("submit", function (e) { e.preventDefault(); });
  apply();
})();
