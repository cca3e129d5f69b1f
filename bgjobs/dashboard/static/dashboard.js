// bgjobs dashboard: refresh the live part of the page in place, confirm deletes,
// select a whole page of jobs. No framework, no network beyond this dashboard.
(function () {
  "use strict";
  var seconds = Number(document.body.dataset.refreshSeconds || "0");
  var live = document.getElementById("live");
  // Set once a form is on its way: the page is about to be replaced by the answer,
  // and a refresh landing first would swap the table under the user's click.
  var leaving = false;

  function busy() {
    // Never replace what the user is working on: a selection or a focused field.
    if (!live || leaving) return true;
    if (live.querySelector("input[type=checkbox]:checked")) return true;
    var active = document.activeElement;
    var typing = active && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName) && active.type !== "checkbox";
    return Boolean(typing && live.contains(active));
  }

  function refresh() {
    if (document.hidden || busy()) return;
    fetch(window.location.href, {
      headers: { "X-Bgjobs-Fragment": "1" },
      credentials: "same-origin",
    }).then(function (response) {
      if (response.ok) return response.text();
      throw new Error("HTTP " + response.status);
    }).then(function (html) {
      if (!busy()) {
        live.innerHTML = html;
        document.body.dataset.refreshedAt = String(Date.now());
      }
    }).catch(function () { /* offline for a moment: try again next tick */ });
  }

  if (seconds > 0 && live) window.setInterval(refresh, seconds * 1000);

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var submitter = event.submitter;
    var question = (submitter && submitter.dataset.confirm) || form.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
    if (!event.defaultPrevented) leaving = true;
  });

  // Back to this page from the browser's cache: it is live again.
  window.addEventListener("pageshow", function () { leaving = false; });

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.classList || !box.classList.contains("select-all")) return;
    var table = box.closest("table");
    table.querySelectorAll("tbody input[type=checkbox]").forEach(function (each) {
      each.checked = box.checked;
    });
  });
})();
