// The test LMS's side of LTI platform storage (1EdTech "LTI Client Side postMessages" and "Platform
// Storage"): the course page that frames the tool answers lti.capabilities, lti.put_data and
// lti.get_data, only from the tool's origin and only to it. The values live in this page (it stays
// while the frame navigates), as a real LMS keeps them in its own storage frame.
"use strict";
(function () {
  var toolOrigin = document.currentScript.dataset.toolOrigin;
  var kept = {};
  window.ltiMessages = [];  // what the tool asked, for the tests to check
  window.addEventListener("message", function (event) {
    var asked = event.data;
    if (event.origin !== toolOrigin || !asked || typeof asked !== "object" || !asked.subject) {
      return;
    }
    window.ltiMessages.push(asked.subject);
    function answer(body) {
      body.subject = asked.subject + ".response";
      body.message_id = asked.message_id;
      event.source.postMessage(body, event.origin);
    }
    if (asked.subject === "lti.capabilities") {
      answer({ supported_messages: [
        { subject: "lti.capabilities" }, { subject: "lti.put_data" }, { subject: "lti.get_data" },
      ] });
    } else if (asked.subject === "lti.put_data") {
      kept[asked.key] = asked.value;
      answer({ key: asked.key, value: asked.value });
    } else if (asked.subject === "lti.get_data") {
      if (Object.prototype.hasOwnProperty.call(kept, asked.key)) {
        answer({ key: asked.key, value: kept[asked.key] });
      } else {
        answer({ key: asked.key, error: { code: "bad_request", message: "no value under this key" } });
      }
    } else {
      answer({ error: { code: "unsupported_subject", message: "not supported: " + asked.subject } });
    }
  });
})();
