// Progressive enhancement only: every page works without it. Shows each time in the
// viewer's own time zone, with the UTC instant on hover.
document.querySelectorAll("time[datetime]").forEach(function (el) {
  var at = new Date(el.getAttribute("datetime"));
  if (isNaN(at)) { return; }
  el.title = el.getAttribute("datetime") + " UTC";
  el.textContent = at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
});
