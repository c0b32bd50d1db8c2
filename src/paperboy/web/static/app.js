// Progressive enhancement only: every feature here also works without JavaScript.
(function () {
  "use strict";

  // Theme toggle: light ↔ dark, remembered in this browser.
  var toggle = document.getElementById("theme-toggle");
  if (toggle) {
    toggle.addEventListener("click", function () {
      var root = document.documentElement;
      var dark = root.dataset.theme ? root.dataset.theme === "dark" : window.matchMedia("(prefers-color-scheme: dark)").matches;
      root.dataset.theme = dark ? "light" : "dark";
      try { localStorage.setItem("paperboy-theme", root.dataset.theme); } catch (e) { /* ignore */ }
    });
  }

  // "/" focuses the search box (unless typing in a field).
  document.addEventListener("keydown", function (event) {
    var tag = (event.target && event.target.tagName) || "";
    if (event.key === "/" && !/^(INPUT|TEXTAREA|SELECT)$/.test(tag) && !event.target.isContentEditable) {
      var box = document.getElementById("q") || document.getElementById("site-search");
      if (box) { event.preventDefault(); box.focus(); box.select(); }
    }
  });

  // Upvotes without a page reload: the form posts with its CSRF token and gets JSON back.
  document.querySelectorAll("form[data-vote]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button");
      var token = form.querySelector("input[name=csrf_token]").value;
      button.disabled = true;
      fetch(form.action, {
        method: "POST",
        headers: { "Accept": "application/json", "X-CSRF-Token": token },
        credentials: "same-origin"
      }).then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      }).then(function (data) {
        button.classList.toggle("voted", data.upvoted);
        button.setAttribute("aria-pressed", data.upvoted ? "true" : "false");
        button.setAttribute("aria-label", "Upvote (" + data.upvotes + " upvotes)");
        button.querySelector("[data-count]").textContent = String(data.upvotes);
      }).catch(function () {
        form.submit();  // fall back to the plain form post
      }).finally(function () {
        button.disabled = false;
      });
    });
  });
})();
