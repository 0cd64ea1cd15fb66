// live.js keeps the page current without a reload: /events (Server-Sent
// Events) announces the GitOps repository's head; when it is not the one
// the page shows, the page's live part is fetched again and swapped in.
(function () {
  "use strict";
  var conn = document.getElementById("conn");
  if (!window.EventSource || !document.getElementById("live")) {
    if (conn) conn.textContent = "static";
    return;
  }
  var fetching = false, wanted = null;
  function refresh() {
    var live = document.getElementById("live");
    if (fetching || wanted === null || wanted === live.dataset.head) return;
    fetching = true;
    var u = new URL(location.href);
    u.searchParams.set("fragment", "1");
    fetch(u, {headers: {"Accept": "text/html"}, cache: "no-store"})
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var t = document.createElement("template");
        t.innerHTML = html;
        var next = t.content.getElementById("live");
        if (next) document.getElementById("live").replaceWith(next);
      })
      .catch(function () { /* the next event retries */ })
      .finally(function () { fetching = false; refresh(); });
  }
  var es = new EventSource("/events");
  es.addEventListener("head", function (e) { wanted = e.data; refresh(); });
  es.onopen = function () { if (conn) { conn.textContent = "live"; conn.className = "conn"; } };
  es.onerror = function () { if (conn) { conn.textContent = "reconnecting"; conn.className = "conn off"; } };
})();
