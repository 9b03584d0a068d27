// Keeps the family table current without a reload: whenever an AI comes or goes (server-sent
// events from /events), the rows are fetched again, rendered by the server like the page.
(function () {
  const rows = document.querySelector("[data-live-rows]");
  if (!rows || !window.EventSource) return;
  let pending = null;
  async function refresh() {
    const response = await fetch(rows.dataset.liveRows, { headers: { Accept: "text/html" } });
    if (!response.ok) return;
    rows.innerHTML = await response.text();
    const count = document.getElementById("online-count");
    const online = response.headers.get("X-Online-Count");
    if (count && online !== null) count.textContent = online;
    rows.dataset.refreshed = String(Date.now());
  }
  const events = new EventSource("/events");
  events.addEventListener("presence", function () {
    clearTimeout(pending);
    pending = setTimeout(refresh, 150);
  });
  events.addEventListener("open", function () {
    document.body.dataset.live = "yes";
  });
})();
