// Operations: /metrics drawn as small live charts, for admins.
//
// The page asks for the admin token (the one set with --admin-token) and
// checks it with an admin call before it shows anything; the token stays in
// this tab's sessionStorage until "Leave operations" or the tab closes, and
// only then is the header's Operations link shown. Users never see the
// link. This is a door, not a lock: /metrics itself is guarded (or not) by
// the deployment, as the README says.
//
// The app passes what this module needs (API call, el, render, the page's
// main element, its abort signal and a timer that stops with the page), so
// the module imports nothing from it.

const ADMIN = "zan.admin";

// askToken shows the admin token form; it resolves once a token is checked.
function askToken({ api, el, render, toast }) {
  return new Promise((resolve) => {
    const input = el("input", { id: "admin-token", type: "password", autocomplete: "off", required: true });
    const go = el("button", { class: "primary", type: "submit", id: "admin-enter" }, "Enter");
    const form = el("form", { id: "admin-form" }, el("label", { for: "admin-token", text: "Admin token" }), el("div", { class: "row" }, input, go));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      go.disabled = true;
      try {
        await api("GET", "/admin/dlq?limit=1", undefined, input.value.trim());
        resolve(input.value.trim());
      } catch (e) {
        // Only a refusal says the token is wrong; a dependency down says
        // nothing about it.
        if (e.code === "forbidden" || e.code === "unauthorized") toast("That is not the admin token.", true);
        else resolve(input.value.trim());
      } finally { go.disabled = false; }
    });
    render(el("h1", { text: "Operations" }), el("p", { class: "muted", text: "For the people who run zan: enter the admin token to see the live charts." }), form);
  });
}

function parseMetrics(text) {
  const m = {};
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const i = line.lastIndexOf(" ");
    const key = line.slice(0, i);
    const name = key.replace(/\{.*$/, "");
    const v = parseFloat(line.slice(i + 1));
    if (!Number.isNaN(v)) { m[key] = v; m[name + "#sum"] = (m[name + "#sum"] || 0) + v; }
  }
  return m;
}

function sparkline(values) {
  if (values.length === 1) values = [values[0], values[0]]; // a flat line until the second sample
  const w = 200, h = 60, max = Math.max(1e-9, ...values);
  const pts = values.map((v, i) => (i * w / Math.max(1, values.length - 1)).toFixed(1) + "," + (h - 2 - v / max * (h - 4)).toFixed(1)).join(" ");
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 " + w + " " + h);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("aria-hidden", "true");
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", pts);
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#d9480f");
  line.setAttribute("stroke-width", "2");
  svg.append(line);
  return svg;
}

export async function pageOps(app, navChanged) {
  const { el, render, main, signal, every } = app;
  if (!sessionStorage.getItem(ADMIN)) {
    sessionStorage.setItem(ADMIN, await askToken(app));
    navChanged();
  }
  if (signal.aborted) return;
  const charts = [
    { id: "likes", label: "Like writes /s", rate: true, get: (m) => m["zan_likes_published_total#sum"] || 0 },
    { id: "http", label: "HTTP requests /s", rate: true, get: (m) => m["zan_http_requests_total#sum"] || 0 },
    { id: "lag", label: "Persister lag (s)", get: (m) => m["zan_persister_lag_seconds"] || 0 },
    { id: "hot", label: "Hot keys now", get: (m) => m["zan_hot_keys"] || 0 },
    { id: "l1", label: "Like L1 hit ratio", get: (m) => { const h = m['zan_l1_requests_total{result="hit"}'] || 0, t = m["zan_l1_requests_total#sum"] || 0; return t ? h / t : 0; } },
    { id: "shop", label: "Shop cache hit ratio", get: (m) => { const t = m["zan_shop_cache_requests_total#sum"] || 0, miss = m['zan_shop_cache_requests_total{result="miss"}'] || 0; return t ? 1 - miss / t : 0; } },
    { id: "orders", label: "Orders taken /s", rate: true, get: (m) => m['zan_voucher_orders_total{result="taken"}'] || 0 },
    { id: "orderlag", label: "Order writer lag (s)", get: (m) => m["zan_order_writer_lag_seconds"] || 0 },
    { id: "streams", label: "Live streams", get: (m) => m["zan_live_streams"] || 0 },
  ];
  const boxes = charts.map((c) => {
    c.series = []; c.value = el("div", { class: "value", text: "–" }); c.box = el("div", { class: "chart", id: "chart-" + c.id }, el("div", { class: "meta", text: c.label }), c.value);
    return c.box;
  });
  const leave = el("button", { type: "button", id: "admin-leave", onclick: () => {
    sessionStorage.removeItem(ADMIN);
    navChanged();
    location.hash = "#/";
  } }, "Leave operations");
  render(el("h1", { text: "Operations" }), el("p", { class: "meta actions" }, "From /metrics every 2 s.", leave), el("div", { class: "grid" }, boxes));
  let prev = null, prevT = 0;
  const poll = async () => {
    const res = await fetch("/metrics", { signal, headers: { Authorization: "Bearer " + sessionStorage.getItem(ADMIN) } });
    if (!res.ok) throw new Error("/metrics: " + res.status);
    const m = parseMetrics(await res.text());
    const t = performance.now();
    for (const c of charts) {
      const v = c.get(m);
      let shown = v;
      if (c.rate) shown = prev ? Math.max(0, (v - c.get(prev)) / ((t - prevT) / 1000)) : 0;
      c.series.push(shown);
      if (c.series.length > 60) c.series.shift();
      c.value.textContent = shown < 10 && !Number.isInteger(shown) ? shown.toFixed(2) : String(Math.round(shown));
      const old = c.box.querySelector("svg");
      const svg = sparkline(c.series);
      if (old) old.replaceWith(svg); else c.box.append(svg);
    }
    prev = m; prevT = t;
  };
  const status = el("p", { class: "meta", role: "status" });
  main().append(status);
  await poll();
  every(() => poll().then(() => { status.textContent = ""; }, (e) => { status.textContent = "Not updated: " + e.message; }), 2000);
}
