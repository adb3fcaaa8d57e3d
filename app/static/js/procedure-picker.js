/* Procedure picker: narrow the list by modality and by words in Thai or English,
   and show the preparation of the chosen procedure. Without JavaScript the full
   list (grouped by modality) still works. */
(function () {
  "use strict";

  var modality = document.querySelector("[data-filter-modality]");
  var search = document.querySelector("[data-filter-search]");
  if (!modality || !search) { return; }
  var list = document.getElementById(search.getAttribute("data-filter-search"));
  var prep = document.getElementById(list.getAttribute("data-prep-target"));
  var none = document.getElementById(list.getAttribute("data-empty-target"));
  var wrap = document.querySelector("[data-search-wrap]");
  if (wrap) { wrap.hidden = false; }

  function filter() {
    var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    var wanted = modality.value;
    var shown = 0;
    list.querySelectorAll("optgroup").forEach(function (group) {
      var groupShown = 0;
      group.querySelectorAll("option").forEach(function (option) {
        var text = option.getAttribute("data-search");
        var ok = (!wanted || option.getAttribute("data-modality") === wanted) &&
          words.every(function (w) { return text.indexOf(w) !== -1; });
        option.hidden = !ok;
        option.disabled = !ok && !option.selected;
        if (ok) { groupShown++; }
      });
      group.hidden = groupShown === 0;
      shown += groupShown;
    });
    none.hidden = shown !== 0;
  }

  function showPrep() {
    var option = list.options[list.selectedIndex];
    prep.textContent = option ? option.getAttribute("data-prep") || "" : "";
  }

  modality.addEventListener("change", filter);
  search.addEventListener("input", filter);
  // Enter in the search box picks the first match instead of submitting the form.
  search.addEventListener("keydown", function (event) {
    if (event.key !== "Enter") { return; }
    event.preventDefault();
    var first = list.querySelector("option:not([hidden])");
    // A change event, as a click would send: other scripts (screening) follow the choice.
    if (first) { first.selected = true; list.dispatchEvent(new Event("change")); list.focus(); }
  });
  list.addEventListener("change", showPrep);
  filter();
  showPrep();
})();
