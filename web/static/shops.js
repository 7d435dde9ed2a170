// Shops and a shop's page (its vouchers: see vouchers.js).
//
// The app passes what these pages need (its API call, DOM helpers, the
// like button, the live stream, a timer that stops with the page), so the
// module imports nothing from it.

import { myVoucherIDs, voucherList } from "./vouchers.js";

function shopCard(el, s) {
  return el("article", { class: "card", "data-shop": s.id },
    el("h3", {}, el("a", { href: "#/shop/" + s.id, text: s.name })),
    el("p", { class: "meta", text: [s.type, "★ " + s.score, "¥" + s.avg_price + " per person", s.distance_m !== undefined ? Math.round(s.distance_m) + " m" : null].filter(Boolean).join(" · ") }),
    el("p", { text: s.address }));
}

export async function pageShops({ api, el, render, toast, fail, pending }, params) {
  const type = el("select", { id: "type" }, ["", "food", "cafe", "bar", "ktv", "hotel", "spa", "gym"].map((t) => el("option", { value: t, text: t || "any type" })));
  type.value = params.get("type") || "";
  const q = el("input", { id: "q", type: "search", placeholder: "noodle, hubin…", value: params.get("q") || "" });
  const x = el("input", { id: "x", inputmode: "decimal", value: params.get("x") || "120.1551" });
  const y = el("input", { id: "y", inputmode: "decimal", value: params.get("y") || "30.2741" });
  const radius = el("input", { id: "radius", inputmode: "numeric", value: params.get("r") || "3000" });
  const list = el("div", { id: "shops" });
  const search = el("form", {}, el("div", { class: "row" },
    el("div", {}, el("label", { for: "type", text: "Type" }), type),
    el("div", {}, el("label", { for: "q", text: "Search" }), q),
    el("div", { class: "act" }, el("button", { class: "primary", type: "submit", id: "search" }, "Search"))));
  const near = el("form", {}, el("div", { class: "row" },
    el("div", {}, el("label", { for: "x", text: "Longitude" }), x),
    el("div", {}, el("label", { for: "y", text: "Latitude" }), y),
    el("div", {}, el("label", { for: "radius", text: "Radius (m)" }), radius),
    el("div", { class: "act" }, el("button", { type: "submit", id: "nearby" }, "Nearby")),
    el("div", { class: "act" }, el("button", { type: "button", onclick: () => {
      if (!navigator.geolocation) { toast("This browser cannot tell where you are: please type a place.", true); return; }
      navigator.geolocation.getCurrentPosition((p) => { x.value = p.coords.longitude.toFixed(5); y.value = p.coords.latitude.toFixed(5); near.requestSubmit(); },
        () => toast("Please allow location, or type a place as longitude and latitude.", true));
    } }, "Use my location"))));
  // A listing pages on with "More" (the API's next_cursor) from where the
  // last page ended; a new search starts over.
  const more = el("button", { type: "button", id: "more-shops", hidden: true }, "More shops");
  let next = null; // loads the next page, or null on the last one
  const list20 = async (path, reset) => {
    let cursor = "";
    const page = async (first) => {
      const r = await api("GET", path + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
      if (first) list.replaceChildren();
      list.append(...r.items.map((s) => shopCard(el, s)));
      if (first && !r.items.length) list.append(el("p", { class: "muted", text: "No shops found. Try fewer words, another type, or a wider radius." }));
      cursor = r.next_cursor || "";
      next = cursor ? () => page(false) : null;
      more.hidden = !next;
    };
    await page(reset);
  };
  more.addEventListener("click", () => { if (next) pending(more, "Loading…", () => next().catch(fail)); });
  search.addEventListener("submit", (ev) => {
    ev.preventDefault();
    pending(search.querySelector("#search"), "Searching…", () =>
      list20("/shops?limit=20&type=" + encodeURIComponent(type.value) + "&q=" + encodeURIComponent(q.value), true).catch(fail));
  });
  near.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const lon = parseFloat(x.value), lat = parseFloat(y.value), r = parseInt(radius.value, 10);
    if (!(lon >= -180 && lon <= 180 && lat >= -90 && lat <= 90)) { toast("Please allow location, or type a place as longitude and latitude (like 120.1551 and 30.2741).", true); return; }
    if (!(r >= 1 && r <= 50000)) { toast("Please give a radius in metres, from 1 to 50000.", true); return; }
    pending(near.querySelector("#nearby"), "Looking…", () =>
      list20("/shops/nearby?limit=20&x=" + lon + "&y=" + lat + "&radius_m=" + r + "&type=" + encodeURIComponent(type.value), true).catch(fail));
  });
  render(el("h1", { text: "Shops" }), search, near, list, more);
  await list20("/shops?limit=20", true);
}

export async function pageShop(app, id) {
  const { api, el, render, counts, likeButton, watch } = app;
  const [s, vs, c, mine] = await Promise.all([api("GET", "/shops/" + id), api("GET", "/shops/" + id + "/vouchers"), counts(["shop:" + id]), myVoucherIDs(app)]);
  const l = c[s.id] || { count: 0, liked: false };
  render(el("h1", { text: s.name }), shopCard(el, s).querySelector(".meta"), el("p", { text: s.address + (s.open_hours ? " · open " + s.open_hours : "") }),
    likeButton("shop", s.id, l.count, l.liked),
    el("h2", { text: "Vouchers" }),
    voucherList(app, vs.items, mine));
  watch(["shop:" + s.id]);
}
