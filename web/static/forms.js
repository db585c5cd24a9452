// Fields the browser finds wanting (required, too long, wrong type): the app's own Chinese
// message next to the field, never the browser's bubble. The words come from the page
// (#form-check-messages, from marketplace/messages.py); the server checks everything again.
(function () {
  "use strict";
  var source = document.getElementById("form-check-messages");
  var words = source ? JSON.parse(source.textContent) : {};

  function messageFor(field) {
    var v = field.validity;
    if (v.valueMissing) return field.tagName === "SELECT" ? words.valueMissingSelect : words.valueMissing;
    if (v.tooLong) return words.tooLong;
    if (v.typeMismatch) return field.type === "email" ? words.typeMismatchEmail : words.typeMismatch;
    if (v.rangeUnderflow) return (words.rangeUnderflow || "").replace("{min}", field.min);
    if (v.rangeOverflow) return (words.rangeOverflow || "").replace("{max}", field.max);
    if (v.stepMismatch) return words.stepMismatch;
    if (v.badInput) return words.badInput;
    if (v.patternMismatch) return words.patternMismatch;
    return words.other;
  }

  function noteFor(field) {
    var id = field.getAttribute("data-check-note");
    if (!id) {
      id = "check-" + (field.id || field.name || "field") + "-" + Math.random().toString(36).slice(2, 8);
      field.setAttribute("data-check-note", id);
    }
    var note = document.getElementById(id);
    if (!note) {
      note = document.createElement("p");
      note.className = "field-error";
      note.id = id;
      note.setAttribute("data-check", "");
      var described = (field.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      if (described.indexOf(id) < 0) described.push(id);
      field.setAttribute("aria-describedby", described.join(" "));
      field.insertAdjacentElement("afterend", note);
    }
    return note;
  }

  var focused = null;
  document.addEventListener("invalid", function (event) {
    var field = event.target;
    event.preventDefault(); // no browser bubble: our message stands next to the field
    noteFor(field).textContent = messageFor(field);
    field.setAttribute("aria-invalid", "true");
    if (!focused) {
      focused = field;
      field.focus();
      window.setTimeout(function () { focused = null; }, 0);
    }
  }, true);

  function clear(event) {
    var field = event.target;
    var id = field.getAttribute && field.getAttribute("data-check-note");
    if (!id || !field.validity || !field.validity.valid) return;
    var note = document.getElementById(id);
    if (note) note.remove();
    field.removeAttribute("aria-invalid");
  }
  document.addEventListener("input", clear, true);
  document.addEventListener("change", clear, true);

  // A page rendered in answer to a form's POST (an error to fix, a result) names the page it
  // stands for: the address bar shows that one, so a refresh reloads the page instead of posting
  // the form again (or answering 405 for an address that only takes POST).
  var pageUrl = document.querySelector('meta[name="page-url"]');
  if (pageUrl && window.history && window.history.replaceState) {
    try {
      window.history.replaceState(window.history.state, "", pageUrl.getAttribute("content"));
    } catch (ignored) { /* another origin: the server never names one */ }
  }
})();
