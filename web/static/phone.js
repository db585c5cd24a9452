// On a phone, sections that sit beside the results on a laptop start folded: a <details> marked
// data-phone-closed opens by default (laptops, and without JavaScript) and is closed when the
// screen is narrow, on load and whenever htmx swaps new results in.
(function () {
  "use strict";
  var narrow = window.matchMedia("(max-width: 719px)");

  function fold(root) {
    if (!narrow.matches) return;
    var found = (root || document).querySelectorAll("details[data-phone-closed]");
    for (var i = 0; i < found.length; i++) found[i].open = false;
  }

  document.addEventListener("DOMContentLoaded", function () { fold(document); });
  document.addEventListener("htmx:afterSwap", function (event) { fold(event.target); });
})();
