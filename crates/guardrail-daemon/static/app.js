// guardrail web UI: the only script, served by the daemon (no CDN); every page works without it.
// It shows each <time datetime="..."> in the viewer's time zone; the UTC value stays in the
// element's title (shown on hover) and is the text when the script does not run.
document.addEventListener("DOMContentLoaded", function () {
  var fmt = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short"
  });
  document.querySelectorAll("time[datetime]").forEach(function (t) {
    var d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d.getTime())) { t.textContent = fmt.format(d); }
  });
});
