// Applies the saved light/dark choice before the page paints (no flash). Without it, the system setting rules.
(function () {
  try {
    var saved = localStorage.getItem("paperboy-theme");
    if (saved === "light" || saved === "dark") document.documentElement.dataset.theme = saved;
  } catch (e) { /* storage blocked: follow the system */ }
})();
