// heliport dashboard: the only script. Copy buttons and the live tail; every
// page works without it.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  // Copy buttons: data-copy names the element whose text is copied.
  document.querySelectorAll("button[data-copy]").forEach(function (btn) {
    btn.hidden = false;
    btn.addEventListener("click", function () {
      var src = document.getElementById(btn.dataset.copy);
      if (!src || !navigator.clipboard) return;
      navigator.clipboard.writeText(src.textContent).then(function () {
        btn.textContent = "Copied";
        setTimeout(function () { btn.textContent = "Copy"; }, 1500);
      });
    });
  });

  // Panels that load on their own (the overview's slower breakdowns): the
  // server renders them; a failure says so in the panel.
  document.querySelectorAll("section[data-src]").forEach(function (panel) {
    var src = panel.dataset.src + (panel.dataset.src.indexOf("?") < 0 ? "?" : "&") + "fragment=1";
    fetch(src, { credentials: "same-origin" })
      .then(function (r) {
        if (r.redirected || !r.ok) throw new Error("status " + r.status);
        return r.text();
      })
      .then(function (html) { panel.innerHTML = html; })
      .catch(function (e) {
        var p = panel.querySelector(".loading");
        if (p) p.textContent = "Could not load this panel (" + e.message + "); reload the page.";
      });
  });

  // Live tail: poll for rows newer than the newest shown (HTML rendered and
  // escaped by the server), newest first, keeping the table short.
  var live = document.getElementById("live-rows");
  if (live) {
    var status = document.getElementById("live-status");
    var paused = false;
    var pause = document.getElementById("live-pause");
    if (pause) {
      pause.hidden = false;
      pause.addEventListener("click", function () {
        paused = !paused;
        pause.textContent = paused ? "Resume" : "Pause";
      });
    }
    var poll = function () {
      if (paused) { setTimeout(poll, 2000); return; }
      var first = live.querySelector("tr[data-t]");
      var after = first ? first.dataset.t : live.dataset.since;
      fetch("/live/rows?after=" + encodeURIComponent(after), { credentials: "same-origin" })
        .then(function (r) {
          if (r.redirected || !r.ok) throw new Error("status " + r.status);
          return r.text();
        })
        .then(function (html) {
          if (html.trim()) {
            var empty = document.getElementById("live-empty");
            if (empty) empty.remove();
            live.insertAdjacentHTML("afterbegin", html);
            while (live.rows.length > 200) live.deleteRow(-1);
          }
          if (status) status.textContent = "Updated " + new Date().toLocaleTimeString();
          setTimeout(poll, 2000);
        })
        .catch(function (e) {
          if (status) status.textContent = "Paused: " + e.message + " (reload to retry)";
        });
    };
    setTimeout(poll, 1000);
  }
});
