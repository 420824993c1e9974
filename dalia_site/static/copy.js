// « Copier » buttons for private links (referral links, calendar feeds). Without JavaScript the
// buttons stay hidden and the link stays a selectable read-only field.
(function () {
  "use strict";

  function copy(button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    var status = document.getElementById(button.getAttribute("data-copy") + "-copie");
    if (!field) {
      return;
    }
    function done(ok) {
      if (status) {
        status.textContent = ok ? "Lien copié." : "Copie impossible : sélectionnez le lien et copiez-le.";
      }
    }
    field.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(function () { done(true); }, function () {
        done(document.execCommand("copy"));
      });
    } else {
      done(document.execCommand("copy"));
    }
  }

  function setUp(root) {
    var buttons = root.querySelectorAll("button[data-copy]");
    for (var i = 0; i < buttons.length; i += 1) {
      if (!buttons[i].dataset.copyReady) {
        buttons[i].dataset.copyReady = "1";
        buttons[i].hidden = false;
        buttons[i].addEventListener("click", function (event) { copy(event.currentTarget); });
      }
    }
  }

  document.addEventListener("DOMContentLoaded", function () { setUp(document); });
  document.addEventListener("htmx:load", function (event) { setUp(event.target); });
}());
