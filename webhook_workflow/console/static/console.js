/* webhook_workflow console: live refresh of lists and of running executions.
   Pages work without this script; it only fetches the same page again every few seconds
   and swaps in the part that changed (HTML the server escaped; nothing here builds markup). */
(function () {
  "use strict";
  var main = document.getElementById("main");
  if (!main || !main.getAttribute("data-live")) { return; }
  var every = (parseInt(main.getAttribute("data-live"), 10) || 5) * 1000;
  var box = document.getElementById("live");
  var timer = null;

  function schedule() { timer = window.setTimeout(refresh, every); }

  function swap(doc) {
    var rows = document.getElementById("rows");
    var freshRows = doc.getElementById("rows");
    if (rows && freshRows) {
      rows.replaceWith(document.adoptNode(freshRows));
      return true;
    }
    var fresh = doc.getElementById("main");
    if (!fresh) { return false; }
    var open = [];
    main.querySelectorAll("details").forEach(function (d, i) { open[i] = d.open; });
    main.replaceWith(document.adoptNode(fresh));
    main = fresh;
    main.querySelectorAll("details").forEach(function (d, i) {
      if (open[i] !== undefined) { d.open = open[i]; }
    });
    return Boolean(main.getAttribute("data-live"));
  }

  function refresh() {
    if ((box && !box.checked) || document.visibilityState === "hidden") { schedule(); return; }
    window.fetch(window.location.href, {credentials: "same-origin",
                                        headers: {"Accept": "text/html"}})
      .then(function (answer) {
        if (!answer.ok) { throw new Error("HTTP " + answer.status); }
        return answer.text();
      })
      .then(function (text) {
        var doc = new window.DOMParser().parseFromString(text, "text/html");
        if (swap(doc)) { schedule(); }
      })
      .catch(function () { schedule(); });
  }

  schedule();
}());
