/* jobport dashboard: the colour theme, applied before the page paints. "auto" follows the system's
   prefers-color-scheme; the toggle (app.js) stores "light" or "dark" in localStorage. */
(function () {
  "use strict";
  var stored = null;
  try { stored = window.localStorage.getItem("jobport-theme"); } catch (e) { stored = null; }
  if (stored === "light" || stored === "dark") {
    document.documentElement.setAttribute("data-theme", stored);
  }
})();
