/* Show only the screening sections the chosen procedure needs (each <option> lists
   them in data-sections, computed by the server for this patient). Without JavaScript
   every section is shown and the server still asks only what applies. */
(function () {
  "use strict";

  var list = document.querySelector("[data-sections-for]");
  if (!list) { return; }
  var sections = document.querySelectorAll("fieldset[data-section]");

  function update() {
    var option = list.options[list.selectedIndex];
    var wanted = option ? (option.getAttribute("data-sections") || "").split(" ") : [];
    sections.forEach(function (section) {
      section.hidden = wanted.indexOf(section.getAttribute("data-section")) === -1;
    });
  }

  list.addEventListener("change", update);
  update();
})();
