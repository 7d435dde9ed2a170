// Vouchers: their states (upcoming with a countdown, on sale, sold out,
// ended, and yours), a voucher's flash sale, and "My vouchers".
//
// The app passes what these pages need (its API call, DOM helpers, the
// session, a timer that stops with the page), so the module imports
// nothing from it.

// stateOf is where a voucher's sale is at now.
export function stateOf(v, now = Date.now()) {
  if (now >= Date.parse(v.end_at)) return "ended";
  if (now < Date.parse(v.begin_at)) return "upcoming";
  return v.remaining > 0 ? "on_sale" : "sold_out";
}

const rank = { on_sale: 0, upcoming: 1, sold_out: 2, ended: 3 };

function clock(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const d = Math.floor(s / 86400);
  return (d ? d + "d " : "") + Math.floor(s % 86400 / 3600) + "h " + Math.floor(s % 3600 / 60) + "m " + (s % 60) + "s";
}

// label says the state in words; an upcoming sale counts down to its start
// and a running one to its end.
function label(v, state, now = Date.now()) {
  switch (state) {
    case "upcoming": return "Starts in " + clock(Date.parse(v.begin_at) - now);
    case "on_sale": return "On sale · ends in " + clock(Date.parse(v.end_at) - now);
    case "sold_out": return "Sold out";
    default: return "Ended";
  }
}

function badge(el, v, mine) {
  const st = stateOf(v);
  const b = el("span", { class: "state state-" + st, "data-state": st, text: label(v, st) });
  return [b, mine ? [" ", el("span", { class: "state state-yours", "data-state": "yours", text: "Yours" })] : null];
}

// myVoucherIDs is the set of vouchers the signed-in user holds (their
// latest 100 orders; empty when signed out).
export async function myVoucherIDs({ api, signedIn }) {
  if (!signedIn()) return new Set();
  const r = await api("GET", "/me/orders?limit=100").catch((e) => { if (e.name === "AbortError") throw e; return { items: [] }; });
  return new Set(r.items.map((o) => o.voucher_id));
}

// voucherList shows a shop's vouchers, the ones on sale first, then the
// upcoming by start, then sold out and ended; states tick every second.
export function voucherList({ el, fmtTime, every }, items, mine) {
  if (!items.length) return el("p", { class: "muted", text: "No vouchers." });
  const now = Date.now();
  const sorted = items.map((v, i) => ({ v, i, st: stateOf(v, now) })).sort((a, b) =>
    rank[a.st] - rank[b.st] || (a.st === "upcoming" ? Date.parse(a.v.begin_at) - Date.parse(b.v.begin_at) : a.i - b.i));
  const cards = sorted.map(({ v }) => {
    const state = el("p", { class: "voucher-state" }, badge(el, v, mine.has(v.id)));
    const card = el("article", { class: "card voucher", "data-voucher": v.id },
      el("h3", {}, el("a", { href: "#/voucher/" + v.id, text: v.title })), state,
      el("p", { class: "meta", text: v.remaining + " of " + v.stock + " left · " + fmtTime(v.begin_at) + " – " + fmtTime(v.end_at) }));
    card.tick = () => state.replaceChildren(...badge(el, v, mine.has(v.id)).flat().filter(Boolean));
    return card;
  });
  every(() => { for (const c of cards) c.tick(); }, 1000);
  return el("div", { id: "vouchers" }, cards);
}

export async function pageVoucher(app, id) {
  const { api, el, render, signedIn, needSignIn, takeResume, every } = app;
  let [v, mine] = await Promise.all([api("GET", "/vouchers/" + id), myVoucherIDs(app)]);
  let ordering = false;
  const left = el("span", { id: "remaining", text: String(v.remaining) });
  const state = el("span", { id: "voucher-state" });
  const status = el("p", { id: "order-status", role: "status" });
  const btn = el("button", { class: "primary", type: "button", id: "order" }, "Get it");
  const tick = () => {
    const st = stateOf(v);
    state.replaceChildren(...badge(el, v, mine.has(v.id)).flat().filter(Boolean));
    btn.disabled = ordering || st !== "on_sale" || mine.has(v.id);
    btn.hidden = mine.has(v.id);
  };
  // The stock left moves while the sale is on: read it again now and then.
  const refresh = async () => {
    v = await api("GET", "/vouchers/" + id).catch(() => v);
    left.textContent = String(v.remaining);
    tick();
  };
  const order = async () => {
    if (!signedIn()) { needSignIn({ kind: "order", key: id }); return; }
    ordering = true;
    tick();
    try {
      const r = await api("POST", "/vouchers/" + id + "/orders");
      mine.add(v.id);
      status.textContent = "Order " + r.order_id + ": pending…";
      // 202 means the unit is won; the order row follows within moments.
      for (let wait = 100, until = Date.now() + 30000; Date.now() < until; wait = Math.min(wait * 2, 1000)) {
        const o = await api("GET", "/orders/" + r.order_id);
        status.textContent = "Order " + o.id + ": " + o.status;
        if (o.status !== "pending") break;
        await new Promise((res) => setTimeout(res, wait));
      }
    } catch (e) {
      const why = {
        conflict: "You already have this voucher.",
        sold_out: "Sold out: none left.",
        rate_limited: "Too many tries: wait " + (e.retryAfter || "a few") + " s and try again.",
        bad_request: "Not on sale now: " + e.message,
      };
      if (e.code === "conflict") mine.add(v.id);
      status.textContent = why[e.code] || "Could not order: " + e.message;
    }
    ordering = false;
    await refresh();
  };
  btn.addEventListener("click", () => { if (!btn.disabled && !ordering) order(); });
  render(el("h1", { text: v.title }), el("p", {}, el("a", { href: "#/shop/" + v.shop_id, text: "The shop" }), " · ", el("a", { href: "#/orders", text: "My vouchers" })),
    el("p", {}, state), el("p", {}, left, " of " + v.stock + " left"), el("p", {}, btn), status);
  tick();
  every(tick, 1000);
  every(() => { if (Date.now() < Date.parse(v.end_at)) refresh(); }, 3000);
  // The order that sent a signed-out user to sign in goes out on return.
  if (signedIn() && takeResume("order", id)) {
    if (stateOf(v) === "on_sale" && !mine.has(v.id)) btn.click();
    else status.textContent = mine.has(v.id) ? "You already have this voucher." : "Not on sale now.";
  }
}

const statusWords = { pending: "Being confirmed", created: "Confirmed", paid: "Paid", cancelled: "Cancelled" };

// pageMyVouchers lists the user's orders, newest first, with the order's
// status and where the voucher's sale is.
export async function pageMyVouchers({ api, el, render, fmtTime, fail, pending }) {
  const list = el("div", { id: "my-orders" });
  const more = el("button", { type: "button", id: "more-orders", hidden: true }, "More");
  let cursor = "";
  const load = async () => {
    const r = await api("GET", "/me/orders?limit=20" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
    list.append(...r.items.map((o) => el("article", { class: "card order", "data-order": o.id },
      el("h3", {}, o.voucher ? el("a", { href: "#/voucher/" + o.voucher_id, text: o.voucher.title }) : el("span", { class: "muted", text: "(voucher gone)" })),
      el("p", {}, el("span", { class: "order-status", text: statusWords[o.status] || o.status }), o.voucher ? [" · ", badge(el, o.voucher, false)] : null),
      el("p", { class: "meta", text: "Ordered " + fmtTime(o.created_at) + " · order " + o.id }))));
    if (!list.children.length) list.append(el("p", { class: "muted" }, "No vouchers yet. ", el("a", { href: "#/shops", text: "Find a shop" }), " with one on sale."));
    cursor = r.next_cursor || "";
    more.hidden = !cursor;
  };
  more.addEventListener("click", () => pending(more, "Loading…", () => load().catch(fail)));
  render(el("h1", { text: "My vouchers" }), el("p", { class: "muted", text: "An order just won shows here once it is confirmed, within moments." }), list, more);
  await load();
}
