/* jobport dashboard behaviour (a static file: the pages allow no inline script).
   - the theme toggle: auto -> dark -> light -> auto, kept in localStorage;
   - times: every <time datetime> shows local time; its title keeps the UTC time;
   - the jobs table's "select all" box;
   - the time-range filter's zone: the hidden `tz` field gets the browser's zone (an IANA name, else
     its UTC offset) unless the URL already names one, so the times typed are local times;
   - the New job screen's pipeline menu shows the chosen pipeline's form at once (select.autosubmit);
   - "Copy" buttons (data-copy = the id of the element whose text they copy);
   - live streams: every SSE message with an id moves the `after` of its sse-connect URL on, so
     that htmx's own reconnect (which sends no Last-Event-ID) resumes after the last event received. */
(function () {
  "use strict";
  var KEY = "jobport-theme";
  var ORDER = ["auto", "dark", "light"];

  function currentTheme() {
    var value = document.documentElement.getAttribute("data-theme");
    return value === "dark" || value === "light" ? value : "auto";
  }

  function applyTheme(theme) {
    if (theme === "auto") {
      document.documentElement.removeAttribute("data-theme");
      try { window.localStorage.removeItem(KEY); } catch (e) { /* storage unavailable */ }
    } else {
      document.documentElement.setAttribute("data-theme", theme);
      try { window.localStorage.setItem(KEY, theme); } catch (e) { /* storage unavailable */ }
    }
    var button = document.getElementById("theme-toggle");
    if (button) { button.textContent = "Theme: " + theme; }
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function localize(root) {
    var times = (root || document).querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var el = times[i];
      if (el.getAttribute("data-local")) { continue; }
      var at = new Date(el.getAttribute("datetime"));
      if (isNaN(at.getTime())) { continue; }
      el.textContent = at.getFullYear() + "-" + pad(at.getMonth() + 1) + "-" + pad(at.getDate()) + " " +
        pad(at.getHours()) + ":" + pad(at.getMinutes()) + ":" + pad(at.getSeconds());
      el.setAttribute("data-local", "1");
    }
  }

  function wireSelectAll() {
    var all = document.getElementById("select-all");
    if (!all) { return; }
    all.addEventListener("change", function () {
      var boxes = document.querySelectorAll("input.pick");
      for (var i = 0; i < boxes.length; i++) { boxes[i].checked = all.checked; }
    });
  }

  function browserZone() {
    try {
      var name = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (name) { return name; }
    } catch (e) { /* no Intl */ }
    var minutes = -new Date().getTimezoneOffset();
    var sign = minutes < 0 ? "-" : "+";
    minutes = Math.abs(minutes);
    return sign + pad(Math.floor(minutes / 60)) + ":" + pad(minutes % 60);
  }

  function wireZone() {
    var field = document.getElementById("f-tz");
    if (!field) { return; }
    if (!field.getAttribute("data-keep")) { field.value = browserZone(); }
    var names = document.querySelectorAll(".tz-name");
    for (var i = 0; i < names.length; i++) { names[i].textContent = field.value || "UTC"; }
  }

  function wireAutosubmit() {
    var menus = document.querySelectorAll("select.autosubmit");
    for (var i = 0; i < menus.length; i++) {
      menus[i].addEventListener("change", function (event) {
        var form = event.target.form;
        if (form && event.target.value) { form.submit(); }
      });
    }
  }

  function copyText(text, button) {
    function done() {
      var before = button.textContent;
      button.textContent = "Copied";
      window.setTimeout(function () { button.textContent = before; }, 1500);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text); done(); });
    } else {
      fallbackCopy(text);
      done();
    }
  }

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing more to try */ }
    document.body.removeChild(area);
  }

  function wireCopy() {
    document.body.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("button[data-copy]") : null;
      if (!button) { return; }
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (source) { copyText(source.textContent, button); }
    });
  }

  function followStream(event) {
    var id = event.detail && event.detail.lastEventId;
    if (!id || !/^[0-9]+$/.test(id) || !event.target.closest) { return; }
    var source = event.target.closest("[sse-connect]");
    if (!source) { return; }
    var url = new URL(source.getAttribute("sse-connect"), window.location.href);
    if (url.searchParams.has("after") && Number(url.searchParams.get("after")) >= Number(id)) { return; }
    url.searchParams.set("after", id);
    source.setAttribute("sse-connect", url.pathname + url.search);
  }

  document.addEventListener("DOMContentLoaded", function () {
    applyTheme(currentTheme());
    var button = document.getElementById("theme-toggle");
    if (button) {
      button.addEventListener("click", function () {
        var next = ORDER[(ORDER.indexOf(currentTheme()) + 1) % ORDER.length];
        applyTheme(next);
      });
    }
    localize(document);
    wireSelectAll();
    wireZone();
    wireCopy();
    wireAutosubmit();
    document.body.addEventListener("htmx:afterSwap", function (event) { localize(event.target); });
    document.body.addEventListener("htmx:sseMessage", function (event) {
      localize(event.target);
      followStream(event);
    });
  });
})();
