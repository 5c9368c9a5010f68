// The tool's side of LTI platform storage (1EdTech "LTI Client Side postMessages"): at the login, keep
// this launch's value in the LMS's frame (lti.put_data), then go on to the LMS; at the launch, read it
// back (lti.get_data) and post it with the launch. Messages go only to the LMS's OIDC auth URL origin
// and only its answers count. Without an answer in time the page goes on anyway: at the login the
// partitioned cookie may still do; at the launch the server then refuses and offers a new window.
"use strict";
(function () {
  var element = document.getElementById("lti-storage");
  if (!element) {
    return;
  }
  var data = element.dataset;
  var waiting = {};
  var finished = false;

  function storageFrame(name) {
    var parent = window.parent;
    if (!parent || parent === window) {
      return null;
    }
    if (!name || name === "_parent") {
      return parent;
    }
    try {
      return parent.frames[name] || null;
    } catch (e) {
      return null;
    }
  }

  function messageId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function ask(frame, message, answered) {
    message.message_id = messageId();
    waiting[message.message_id] = answered;
    frame.postMessage(message, data.origin);
  }

  window.addEventListener("message", function (event) {
    var answer = event.data;
    if (event.origin !== data.origin || !answer || typeof answer !== "object") {
      return;
    }
    var answered = waiting[answer.message_id];
    if (answered) {
      delete waiting[answer.message_id];
      answered(answer);
    }
  });

  function finish(value) {
    if (finished) {
      return;
    }
    finished = true;
    if (data.action === "put") {
      window.location.replace(data.next);
    } else {
      document.getElementById("lti-storage-value").value = value || "";
      element.submit();
    }
  }

  function offered(capabilities, subject) {
    var messages = (capabilities && capabilities.supported_messages) || [];
    for (var i = 0; i < messages.length; i++) {
      if (messages[i] && messages[i].subject === subject) {
        return messages[i];
      }
    }
    return null;
  }

  var frame = storageFrame(data.target);
  if (!frame) {
    finish(null);
    return;
  }
  window.setTimeout(function () { finish(null); }, parseInt(data.waitMs, 10) || 2000);
  var subject = data.action === "put" ? "lti.put_data" : "lti.get_data";
  ask(frame, { subject: "lti.capabilities" }, function (capabilities) {
    var capability = offered(capabilities, subject);
    if (!capability) {
      finish(null);
      return;
    }
    // The LMS may name another of its frames for storage messages.
    var target = capability.frame ? storageFrame(capability.frame) || frame : frame;
    var message = { subject: subject, key: data.key };
    if (data.action === "put") {
      message.value = data.value;
    }
    ask(target, message, function (answer) {
      finish(answer.error ? null : answer.value);
    });
  });
})();
