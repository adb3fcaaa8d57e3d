/* Thai national ID check digit, as staff type it (the server checks again on save).
   Digit i (1..12) is weighted 14-i; the 13th digit is (11 - sum mod 11) mod 10.
   Messages come from data-msg-* attributes, already translated by the server. */
(function () {
  "use strict";

  function checkDigit(first12) {
    var sum = 0;
    for (var i = 0; i < 12; i++) { sum += Number(first12.charAt(i)) * (13 - i); }
    return String((11 - (sum % 11)) % 10);
  }

  function attach(input) {
    var live = document.getElementById(input.id + "-live");
    var typeField = document.getElementById(input.getAttribute("data-type-field"));
    if (!live) { return; }

    function update() {
      var digits = input.value.replace(/\D/g, "");
      var isNationalId = !typeField || typeField.value === "NATIONAL_ID";
      live.textContent = "";
      live.className = "live-check";
      input.removeAttribute("aria-invalid");
      if (!isNationalId || digits.length === 0) { return; }
      if (digits.length < 13) {
        // Only complain about length once they stop typing digits (or type too many).
        if (document.activeElement === input) { return; }
        live.textContent = input.getAttribute("data-msg-length");
      } else if (digits.length > 13) {
        live.textContent = input.getAttribute("data-msg-length");
      } else if (checkDigit(digits.slice(0, 12)) !== digits.charAt(12)) {
        live.textContent = input.getAttribute("data-msg-checksum");
      } else {
        live.textContent = input.getAttribute("data-msg-ok");
        live.className = "live-check ok";
        return;
      }
      live.className = "live-check error";
      input.setAttribute("aria-invalid", "true");
    }

    // The server's own message (after a submit) stands until they change the value;
    // then the live check takes over, so the same message is never shown twice.
    var serverError = document.getElementById(input.id + "-error");
    function edited() {
      if (serverError) { serverError.hidden = true; serverError = null; }
      update();
    }

    input.setAttribute("aria-describedby",
      ((input.getAttribute("aria-describedby") || "") + " " + live.id).trim());
    input.addEventListener("input", edited);
    input.addEventListener("blur", function () { if (!serverError) { update(); } });
    if (typeField) { typeField.addEventListener("change", edited); }
    if (input.value && !serverError) { update(); }
  }

  document.querySelectorAll("input[data-national-id]").forEach(attach);
})();
