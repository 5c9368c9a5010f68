// The upload form: drag-and-drop onto the file picker's zone, a quick check of the file's kind
// and size (the server checks again), and no double submission. Without this the form still works.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form) return;
  var input = document.getElementById("file");
  var zone = document.getElementById("dropzone");
  var check = document.getElementById("file-check");
  var help = document.getElementById("file-help");
  var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10) || 0;
  var allowed = /\.(py|ipynb|zip)$/i;

  var refusal = document.getElementById("upload-error");
  if (refusal) refusal.focus();

  function problem(file) {
    if (!file) return "Choose a file first.";
    if (!allowed.test(file.name)) return file.name + " is not a .py, .ipynb or .zip file.";
    if (maxBytes && file.size > maxBytes) {
      return file.name + " is " + Math.ceil(file.size / 1024) + " KiB; the limit is " + Math.floor(maxBytes / 1024) + " KiB.";
    }
    if (file.size === 0) return file.name + " is empty.";
    return "";
  }

  function show() {
    var file = input.files && input.files[0];
    var why = file ? problem(file) : "";
    check.textContent = why;
    input.setAttribute("aria-invalid", why ? "true" : "false");
    if (file && !why) help.textContent = "Ready: " + file.name + " (" + Math.ceil(file.size / 1024) + " KiB).";
  }

  input.addEventListener("change", show);

  function hasFiles(event) {
    var types = event.dataTransfer && event.dataTransfer.types;
    return types && Array.prototype.indexOf.call(types, "Files") !== -1;
  }
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) {
      if (!hasFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      zone.classList.add("over");
    });
  });
  zone.addEventListener("dragleave", function (event) {
    if (!zone.contains(event.relatedTarget)) zone.classList.remove("over");
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    zone.classList.remove("over");
    var files = event.dataTransfer.files;
    if (!files || !files.length) return;
    var transfer = new DataTransfer();
    transfer.items.add(files[0]);
    input.files = transfer.files;
    show();
    input.focus();
  });
  // A file dropped next to the zone must not make the browser leave the page to open it.
  window.addEventListener("dragover", function (event) { if (hasFiles(event)) event.preventDefault(); });
  window.addEventListener("drop", function (event) { if (hasFiles(event)) event.preventDefault(); });

  form.addEventListener("submit", function (event) {
    var why = problem(input.files && input.files[0]);
    if (why) {
      event.preventDefault();
      check.textContent = why;
      input.focus();
      return;
    }
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    button.textContent = "Uploading…";
  });
})();
