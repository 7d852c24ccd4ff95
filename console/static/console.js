// dualrec console: seeking the player to the evidence. No inline script anywhere (the
// Content-Security-Policy forbids it); everything hangs off data-seek attributes.
(function () {
  "use strict";

  function clock(s) {
    s = Math.max(0, Math.floor(s));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return [h, m, r].map(function (n) { return String(n).padStart(2, "0"); }).join(":");
  }

  function players() {
    return Array.prototype.slice.call(document.querySelectorAll("#player, #audio-player"));
  }

  function seek(t) {
    var list = players();
    if (!list.length || !isFinite(t)) return;
    var main = list[0];
    var go = function () {
      main.currentTime = t;
      // The separate audio follows the video (same clock: audio_offset_s is applied
      // by the verifier's times, which are the video's).
      list.slice(1).forEach(function (p) { p.currentTime = t; });
    };
    if (main.readyState >= 1) go(); else main.addEventListener("loadedmetadata", go, { once: true });
    main.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("click", function (ev) {
    var el = ev.target.closest("[data-seek]");
    if (!el) return;
    ev.preventDefault();
    seek(parseFloat(el.getAttribute("data-seek")));
  });

  function followPlayhead() {
    var main = document.getElementById("player") || document.getElementById("audio-player");
    if (!main) return;
    var section = document.getElementById("player-section");
    var lines = Array.prototype.slice.call(document.querySelectorAll(".transcript li[data-seek]"));
    var heads = Array.prototype.slice.call(document.querySelectorAll(".timeline .playhead"));
    var now = document.getElementById("now");
    main.addEventListener("timeupdate", function () {
      var t = main.currentTime, d = main.duration;
      if (now) now.textContent = clock(t);
      if (isFinite(d) && d > 0 && heads.length) {
        var extent = parseFloat(section.getAttribute("data-extent")) || d;
        var x = String(Math.min(1000, t / extent * 1000));
        heads.forEach(function (h) { h.setAttribute("x1", x); h.setAttribute("x2", x); });
      }
      lines.forEach(function (li) {
        var a = parseFloat(li.getAttribute("data-seek")), b = parseFloat(li.getAttribute("data-end"));
        li.classList.toggle("current", t >= a && t < b);
      });
    });
    var start = parseFloat(section.getAttribute("data-start") || "0");
    if (start > 0) seek(start);
  }

  // Tick labels under the timeline, each at its time (CSSOM from a script is allowed
  // by the Content-Security-Policy; a style attribute in the page would not be).
  function placeTicks() {
    document.querySelectorAll(".tick-labels span[data-x]").forEach(function (el) {
      el.style.left = (parseFloat(el.getAttribute("data-x")) / 10) + "%";
    });
  }

  function start() { placeTicks(); followPlayhead(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
