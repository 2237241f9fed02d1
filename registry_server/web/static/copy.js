// Progressive enhancement: the install line is plain selectable text without this script.
// With it, each [data-copy-target] button is shown and copies its target's text.
"use strict";
(function () {
  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "absolute";
    area.style.left = "-9999px";
    document.body.appendChild(area);
    area.select();
    var copied = false;
    try { copied = document.execCommand("copy"); } catch (error) { copied = false; }
    document.body.removeChild(area);
    return copied ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); });
    }
    return fallbackCopy(text);
  }

  function setup(button) {
    var target = document.getElementById(button.getAttribute("data-copy-target"));
    if (!target) { return; }
    var status = button.closest("section") && button.closest("section").querySelector(".copy-status");
    var label = button.textContent;
    button.hidden = false;
    button.setAttribute("aria-label", "Copy the install command");
    button.addEventListener("click", function () {
      copy(target.textContent.trim()).then(function () {
        button.textContent = "Copied!";
        button.classList.add("copied");
        if (status) { status.textContent = "Install command copied to the clipboard."; }
      }, function () {
        // Could not copy: select the text so the user can press Ctrl+C.
        var range = document.createRange();
        range.selectNodeContents(target);
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        if (status) { status.textContent = "Press Ctrl+C to copy the selected command."; }
      });
      window.setTimeout(function () {
        button.textContent = label;
        button.classList.remove("copied");
      }, 4000);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-copy-target]"), setup);
  });
})();
