/*! Pharos status badge. Place it where the script tag is:
 *    <script src="https://status.example.com/embed.js" async></script>
 *  or into <div data-pharos-status></div> if the page has one. Reads widget.json next
 *  to this script, or data-widget="URL" on the script tag (the host must send
 *  CORS headers). Shows nothing on any error. */
(function () {
  var d = document, s = d.currentScript, i, all;
  if (!s) {
    all = d.getElementsByTagName("script");
    for (i = all.length - 1; i >= 0 && !s; i--) if (/embed\.js([?#]|$)/.test(all[i].src)) s = all[i];
  }
  if (!s || !s.src) return;
  var base = s.src.replace(/[?#].*$/, "").replace(/[^\/]*$/, "");
  var colors = { none: "#1f883d", minor: "#d4a72c", major: "#fb8f44", critical: "#cf222e" };
  var x = new XMLHttpRequest();
  x.onload = function () {
    var w, st;
    try { w = JSON.parse(x.responseText); } catch (e) { return; }
    if (x.status !== 200 || !w || !(st = w.status)) return;
    var href = String((w.page && w.page.url) || ""), text = String(st.description || "");
    if (!/^https?:\/\//i.test(href)) href = base;  // never javascript:
    if (Date.now() > Date.parse(w.stale_after)) text += " (status may be out of date)";
    var a = d.createElement("a"), dot = d.createElement("span");
    a.href = href;
    a.rel = "noopener";
    a.className = "pharos-status";
    a.style.cssText = "display:inline-flex;align-items:center;color:inherit;text-decoration:none";
    dot.setAttribute("aria-hidden", "true");
    dot.style.cssText = "width:.6em;height:.6em;border-radius:50%;margin-right:.45em;flex:none";
    dot.style.backgroundColor = colors[st.indicator] || "#8c959f";
    a.appendChild(dot);
    a.appendChild(d.createTextNode(text));
    var t = d.querySelector("[data-pharos-status]");
    if (t) t.appendChild(a);
    else if (s.parentNode && s.parentNode !== d.head) s.parentNode.insertBefore(a, s);
  };
  x.open("GET", s.getAttribute("data-widget") || base + "widget.json");
  x.send();
})();
