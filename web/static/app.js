// zan's web app: plain JavaScript, no build step, served from the binary.
//
// Security: the session token lives in this page's memory and in
// localStorage (shared by this site's tabs, which follow each other's
// sign-in and sign-out through the storage event), and goes out only as
// "Authorization: Bearer". No cookie carries it, so no other site can make
// the browser send it: there is no CSRF surface to protect. The price is
// that a script running in this page could read it, so no foreign script
// may ever run here: nothing a user wrote is parsed as HTML (every text is
// set with textContent on nodes built here, nothing is escaped by hand),
// the server sends Content-Security-Policy script-src 'self', and ids taken
// from the address must be digits before they go into an API path.

import { finishSignIn } from "./signin.js";
import { pageInbox, startBell, stopBell } from "./inbox.js";
import { pageOps } from "./ops.js";
import { pageShop, pageShops } from "./shops.js";
import { photoGrid, photoPicker } from "./photos.js";
import { pageMyVouchers, pageVoucher } from "./vouchers.js";
import { needSignIn, pageLogin, routed, signedIn, takeResume } from "./login.js";
import { pageUser } from "./profile.js";
import { avatar, person } from "./avatar.js";

const API = "/api/v1";
let token = localStorage.getItem("zan.token") || "";
let me = JSON.parse(localStorage.getItem("zan.me") || "null");

// ---- small DOM helpers -------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
    else if (k === "text") n.textContent = v;
    else n.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    n.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return n;
}

const main = () => document.getElementById("main");

// render shows a page: nodes, lists of nodes (a listing), null for nothing.
function render(...nodes) {
  main().replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false));
}

let toastTimer;
function toast(msg, error = false) {
  const t = document.getElementById("toast");
  t.textContent = msg;
  t.className = error ? "error" : "";
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
}

// human says what went wrong in words a person can act on. The server's
// own message stays only where it is the point (which field is wrong).
function human(e) {
  if (!(e instanceof APIError)) return "Can't reach zan. Check your connection and try again.";
  const wait = e.retryAfter ? " Try again in " + e.retryAfter + " s." : " Try again in a moment.";
  switch (e.code) {
    case "unauthorized": return token ? "That didn't work: " + sentence(e.message) : "Please sign in first.";
    case "forbidden": return "Only the author can do that.";
    case "not_found": return "It's gone: it was deleted, or the link is wrong.";
    case "rate_limited": return "That was a lot at once." + wait;
    case "too_large": return "That's too long to send.";
    case "unavailable": return "zan is busy or restarting." + wait;
    case "internal": return "Something broke on our side. Try again.";
    case "bad_request": return sentence(e.message);
    default: return sentence(e.message);
  }
}

// sentence makes "title must be 1-100 characters" read as a sentence.
function sentence(m) {
  m = String(m || "Something went wrong");
  return m.charAt(0).toUpperCase() + m.slice(1) + (/[.!?]$/.test(m) ? "" : ".");
}

// fail tells the user what went wrong, unless it is only that they moved
// on to another page before an answer came.
function fail(e) {
  if (e.name !== "AbortError") toast(human(e), true);
}

// pending marks a button as working (disabled, with a label saying so)
// until the promise settles: a second click cannot send a second request.
async function pending(btn, label, work) {
  if (btn.disabled) return;
  const before = btn.textContent;
  btn.disabled = true;
  btn.setAttribute("aria-busy", "true");
  btn.textContent = label;
  try {
    return await work();
  } finally {
    btn.disabled = false;
    btn.removeAttribute("aria-busy");
    btn.textContent = before;
  }
}

// newKey names one submit, so a repeat of it (a retry after a lost answer)
// makes nothing new. crypto.randomUUID needs a secure context; plain HTTP
// on a LAN address gets the same randomness by hand.
function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

function fmtTime(s) {
  return new Date(s).toLocaleString();
}

// ---- the API -----------------------------------------------------------

class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Reads belong to the page on screen: they stop when another page takes
// over, so that a late answer never draws over it. Writes run to the end.
let pageAbort = new AbortController();

async function api(method, path, body, admin) {
  const headers = {};
  const auth = admin || token;
  if (auth) headers["Authorization"] = "Bearer " + auth;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(API + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    signal: method === "GET" ? pageAbort.signal : undefined,
  });
  if (res.status === 204) return null;
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = data.error || {};
    if (res.status === 401 && token && !admin) setSession("", null);
    const err = new APIError(res.status, e.code || "http_" + res.status, e.message || res.statusText);
    err.retryAfter = res.headers.get("Retry-After");
    throw err;
  }
  return data;
}

function setSession(t, user) {
  if (t && !token) signedIn();
  token = t;
  me = user;
  if (t) {
    localStorage.setItem("zan.token", t);
    localStorage.setItem("zan.me", JSON.stringify(user));
  } else {
    localStorage.removeItem("zan.token");
    localStorage.removeItem("zan.me");
  }
  updateNav();
}

// Another tab signed in, out, or renamed: this one follows, and draws its
// page again for the new session.
window.addEventListener("storage", (ev) => {
  if (ev.key !== "zan.token" && ev.key !== "zan.me" && ev.key !== null) return;
  const t = localStorage.getItem("zan.token") || "";
  const changed = t !== token;
  token = t;
  me = t ? JSON.parse(localStorage.getItem("zan.me") || "null") : null;
  updateNav();
  if (changed) route();
});

// bellToken is the token the bell follows: it restarts only when the
// session changes.
let bellToken = null;

function updateNav() {
  if (token !== bellToken) {
    bellToken = token;
    if (token) startBell(API, token); else stopBell();
  }
  document.getElementById("nav-ops").hidden = !sessionStorage.getItem("zan.admin");
  const a = document.getElementById("nav-me");
  if (me) {
    a.replaceChildren(avatar(el, me), el("span", { class: "nav-name", text: me.nickname }));
    a.href = "#/user/" + me.id;
  } else {
    a.textContent = "Sign in";
    a.href = "#/login";
  }
}

// ---- live counts ---------------------------------------------------------

// One EventSource for the targets on screen; buttons subscribe by target.
const live = { source: null, key: "", listeners: new Map(), retry: null, wait: 1000 };

function watch(targets) {
  const key = targets.join(",");
  if (key === live.key && live.source) return;
  if (live.source) live.source.close();
  clearTimeout(live.retry);
  live.source = null;
  live.key = key;
  if (!targets.length) return;
  const src = new EventSource(API + "/likes/stream?targets=" + encodeURIComponent(key));
  src.addEventListener("count", (ev) => {
    live.wait = 1000;
    const d = JSON.parse(ev.data);
    for (const fn of live.listeners.get(d.type + ":" + d.id) || []) fn(d.count);
  });
  // EventSource reconnects by itself after a dropped connection, but gives
  // up for good after an error answer (503 when a node has too many
  // streams): then try again later, backing off. Counts are absolute, so
  // the first event after it repairs whatever was missed.
  src.addEventListener("error", () => {
    if (src.readyState !== EventSource.CLOSED || live.source !== src) return;
    live.source = null;
    live.retry = setTimeout(() => { if (live.key === key) watch(targets); }, live.wait);
    live.wait = Math.min(live.wait * 2, 30000);
  });
  live.source = src;
}

function onCount(target, fn) {
  if (!live.listeners.has(target)) live.listeners.set(target, []);
  live.listeners.get(target).push(fn);
}

// likeButton shows a target's count and toggles the caller's like,
// optimistically: it changes at once and rolls back if the server says no.
function likeButton(type, id, count, liked, changed) {
  const target = type + ":" + id;
  const num = el("span", { class: "count", text: String(count) });
  const btn = el("button", { class: "like", type: "button", "aria-pressed": String(!!liked), "aria-label": "Like", "data-target": target },
    el("span", { "aria-hidden": "true", text: "♥" }), num);
  let state = { count, liked: !!liked, busy: false };
  // The stream's event for this reader's own change can arrive after the
  // answer to it, and an older event with it: for a second after a change
  // the answer's count stands (the next event repairs a miss; counts are
  // absolute).
  let quietUntil = 0;
  const show = () => {
    num.textContent = String(state.count);
    btn.setAttribute("aria-pressed", String(state.liked));
    btn.setAttribute("aria-label", (state.liked ? "Unlike" : "Like") + " (" + state.count + ")");
    btn.setAttribute("aria-busy", String(state.busy));
  };
  show();
  onCount(target, (n) => { if (!state.busy && Date.now() > quietUntil) { state.count = n; show(); } });
  // The like that sent a signed-out user to sign in happens on return.
  if (token && !state.liked && takeResume("like", target)) setTimeout(() => btn.click());
  btn.addEventListener("click", async () => {
    if (!token) { needSignIn({ kind: "like", key: target }); return; }
    if (state.busy) return;
    const before = { ...state };
    state = { count: state.count + (state.liked ? -1 : 1), liked: !state.liked, busy: true };
    show();
    try {
      const r = await api(state.liked ? "PUT" : "DELETE", "/likes/" + type + "/" + id);
      state = { count: r.count, liked: r.liked, busy: false };
      if (changed) changed(r);
    } catch (e) {
      state = { ...before, busy: false };
      toast("Could not " + (before.liked ? "unlike" : "like") + ". " + human(e), true);
    }
    quietUntil = Date.now() + 1000;
    show();
  });
  return btn;
}

// ---- pages -----------------------------------------------------------------

function blogCard(b, likes) {
  const l = likes[b.id] || { count: b.like_count, liked: b.liked };
  return el("article", { class: "card", "data-blog": b.id },
    el("h3", {}, el("a", { href: "#/blog/" + b.id, text: b.title })),
    el("p", { class: "meta" }, "by ", person(el, b.author), " · " + fmtTime(b.created_at)),
    el("p", { text: b.content.length > 240 ? b.content.slice(0, 240) + "…" : b.content }),
    photoGrid(el, b.photos, "#/blog/" + b.id),
    likeButton("blog", b.id, l.count, l.liked));
}

async function counts(targets) {
  const out = {};
  if (!targets.length) return out;
  const r = await api("GET", "/likes?targets=" + targets.join(","));
  for (const it of r.items) out[it.id] = { count: it.count, liked: !!it.liked };
  return out;
}

async function pageFeed(params) {
  const sort = params.get("sort") === "hot" ? "hot" : "new";
  const tab = (s, label) => el("button", { type: "button", "aria-pressed": String(sort === s), onclick: () => { location.hash = "#/?sort=" + s; } }, label);
  const list = el("div", { id: "feed" }, el("p", { class: "muted", text: "Loading…" }));
  const more = el("button", { type: "button", hidden: true }, "More");
  render(el("h1", { text: sort === "hot" ? "Hot today" : "Newest" }), el("div", { class: "tabs" }, tab("new", "New"), tab("hot", "Hot")), list, more);
  let cursor = "";
  const shown = [];
  const load = async () => {
    const r = await api("GET", "/blogs?sort=" + sort + "&limit=20" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
    const likes = await counts(r.items.map((b) => "blog:" + b.id));
    if (!cursor) list.replaceChildren();
    for (const b of r.items) { list.append(blogCard(b, likes)); shown.push("blog:" + b.id); }
    if (!shown.length) list.replaceChildren(el("p", { class: "muted" }, "No posts yet. ", el("a", { href: "#/write", text: "Write the first one" }), "."));
    cursor = r.next_cursor || "";
    more.hidden = !cursor;
    watch(shown.slice(0, 200));
  };
  more.addEventListener("click", () => load().catch(fail));
  await load();
  performance.mark("zan:feed-interactive");
}

async function pageBlog(id) {
  let b = await api("GET", "/blogs/" + id);
  const likers = el("ol", { class: "likers", id: "likers" });
  const top = el("p", { id: "top-likers" });
  let order = "earliest";
  let cursor = "";
  const more = el("button", { type: "button", hidden: true }, "More likers");
  const name = (u) => u.nickname || "someone";
  const showTop = () => {
    top.className = b.top_likers.length ? "" : "muted";
    top.replaceChildren(...(b.top_likers.length ? b.top_likers.flatMap((u, i) => [i ? ", " : "", person(el, u)]) : ["Nobody yet."]));
  };
  const loadLikers = async (reset) => {
    const r = await api("GET", "/likes/blog/" + id + "/users?order=" + order + "&limit=10" + (reset || !cursor ? "" : "&cursor=" + encodeURIComponent(cursor)));
    if (reset) likers.replaceChildren();
    for (const it of r.items) likers.append(el("li", {}, person(el, { id: it.user_id, nickname: name(it), avatar: it.avatar }), el("span", { class: "meta", text: " · " + fmtTime(it.liked_at) })));
    if (reset && !r.items.length) likers.append(el("li", { class: "muted", text: "Nobody yet." }));
    cursor = r.next_cursor || "";
    more.hidden = !cursor;
    return r;
  };
  // After a like the lists are read again: the store takes the like a
  // moment after the answer, so read until the reader's own change shows
  // (or a full page hides it), for at most a few seconds.
  let refreshing = 0;
  let mine = null; // the answer to this reader's last like or unlike
  const page = pageAbort.signal; // this page's: the loop ends with it
  const refresh = async () => {
    const run = ++refreshing;
    for (let wait = 150; wait < 5000 && run === refreshing; wait *= 2) {
      await new Promise((res) => setTimeout(res, wait));
      if (run !== refreshing || page.aborted) return;
      const [nb, r] = await Promise.all([api("GET", "/blogs/" + id), loadLikers(true)]);
      b = nb;
      showTop();
      if (!mine || !me) return;
      const shown = b.top_likers.some((u) => u.id === me.id) || r.items.some((it) => it.user_id === me.id);
      const full = b.top_likers.length >= 5 && r.next_cursor;
      if (shown === mine.liked || full) return;
    }
  };
  const orderBtn = (o, label) => el("button", { type: "button", "aria-pressed": String(o === order), onclick: (ev) => {
    order = o;
    for (const x of ev.target.parentNode.children) x.setAttribute("aria-pressed", String(x === ev.target));
    loadLikers(true).catch(fail);
  } }, label);
  more.addEventListener("click", () => loadLikers(false).catch(fail));
  const title = el("h1", { text: b.title });
  const content = el("p", { class: "pre", text: b.content });
  let grid = photoGrid(el, b.photos) || el("div", { hidden: true });
  const isAuthor = me && me.id === b.author.id;
  const actions = isAuthor ? el("p", { class: "actions" },
    el("button", { type: "button", id: "edit", onclick: () => editBlog() }, "Edit"),
    el("button", { type: "button", id: "delete", class: "danger", onclick: (ev) => {
      if (!confirm("Delete this post? Its likes go with it.")) return;
      pending(ev.target, "Deleting…", async () => {
        try {
          await api("DELETE", "/blogs/" + id);
          toast("Post deleted");
          location.hash = "#/user/" + me.id;
        } catch (e) { fail(e); }
      });
    } }, "Delete")) : null;
  const editBlog = () => {
    const t = el("input", { id: "edit-title", maxlength: "100", required: true, value: b.title });
    const c = el("textarea", { id: "edit-content", rows: "8", required: true });
    c.value = b.content;
    const picker = photoPicker({ el, token: () => token, toast }, b.photos || []);
    const save = el("button", { class: "primary", type: "submit", id: "save" }, "Save");
    const form = el("form", { id: "edit-form" },
      el("label", { for: "edit-title", text: "Title" }), t,
      el("label", { for: "edit-content", text: "Text" }), c,
      picker.node,
      el("p", { class: "actions" }, save, el("button", { type: "button", onclick: () => form.replaceWith(content) }, "Cancel")));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (picker.busy()) { toast("Wait for the photos to finish uploading.", true); return; }
      pending(save, "Saving…", async () => {
        try {
          b = await api("PATCH", "/blogs/" + id, { title: t.value, content: c.value, photos: picker.ids() });
          title.textContent = b.title;
          content.textContent = b.content;
          const g = photoGrid(el, b.photos) || el("div", { hidden: true });
          grid.replaceWith(g);
          grid = g;
          form.replaceWith(content);
          toast("Saved");
        } catch (e) { fail(e); }
      });
    });
    content.replaceWith(form);
    t.focus();
  };
  render(
    title,
    el("p", { class: "meta" }, "by ", person(el, { ...b.author, nickname: name(b.author) }), " · " + fmtTime(b.created_at)),
    actions,
    content,
    grid,
    likeButton("blog", b.id, b.like_count, b.liked, (r) => { mine = r; refresh().catch(fail); }),
    el("h2", { text: "First likers" }),
    top,
    el("h2", { text: "Likers" }),
    el("div", { class: "tabs" }, orderBtn("earliest", "Earliest"), orderBtn("latest", "Latest")),
    likers, more);
  showTop();
  // Other people's likes move the count live: the lists follow, a moment
  // later (one read for a burst of them).
  let later;
  onCount("blog:" + b.id, () => { clearTimeout(later); later = setTimeout(() => refresh().catch(fail), 800); timers.push(later); });
  watch(["blog:" + b.id]);
  await loadLikers(true);
}

async function pageWrite() {
  if (!token) { needSignIn({ kind: "route" }); return; }
  const title = el("input", { id: "title", maxlength: "100", required: true });
  const content = el("textarea", { id: "content", rows: "8", required: true });
  const picker = photoPicker({ el, token: () => token, toast });
  const form = el("form", {},
    el("label", { for: "title", text: "Title" }), title,
    el("label", { for: "content", text: "Text" }), content,
    picker.node,
    el("p", {}, el("button", { class: "primary", type: "submit", id: "post" }, "Post")));
  // One key for this post, kept across retries: if an answer is lost and
  // the user clicks again, the server answers the post it already made.
  const key = newKey();
  const post = form.querySelector("#post");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (picker.busy()) { toast("Wait for the photos to finish uploading.", true); return; }
    pending(post, "Posting…", async () => {
      try {
        const b = await api("POST", "/blogs", { title: title.value, content: content.value, client_key: key, photos: picker.ids() });
        location.hash = "#/blog/" + b.id;
      } catch (e) { fail(e); }
    });
  });
  render(el("h1", { text: "Write a post" }), form);
  title.focus();
}

// The timers of the page on screen, stopped when the route changes.
let timers = [];

// app is what the page modules need of the app, so they import nothing
// from it.
function app() {
  return { api, el, render, toast, fail, pending, fmtTime, counts, likeButton, watch, blogCard, setSession, timers, main,
    session: () => ({ token, me }), signedIn: () => !!token, needSignIn, takeResume, signal: pageAbort.signal,
    every: (fn, ms) => timers.push(setInterval(fn, ms)) };
}

// ---- routing -------------------------------------------------------------

async function route() {
  pageAbort.abort();
  pageAbort = new AbortController();
  for (const t of timers) clearInterval(t);
  timers = [];
  live.listeners.clear();
  watch([]); // the next page opens the stream it needs
  window.scrollTo(0, 0); // a new page starts at its top, not where the last one was scrolled
  routed(location.hash || "#/");
  const [path, query] = (location.hash.slice(1) || "/").split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean);
  // Ids from the address go into API paths: only digits may (a crafted
  // link must not turn a button into a request somewhere else).
  const needsID = ["blog", "user", "shop", "voucher"].includes(parts[0]);
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === "#" + (parts.length ? "/" + parts[0] : "/")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  try {
    if (needsID && !/^[0-9]{1,19}$/.test(parts[1] || "")) parts[0] = "not-found";
    switch (parts[0]) {
      case undefined: await pageFeed(params); break;
      case "login": await pageLogin(app()); break;
      case "write": await pageWrite(); break;
      case "blog": await pageBlog(parts[1]); break;
      case "user": await pageUser(app(), parts[1]); break;
      case "shops": await pageShops(app(), params); break;
      case "shop": await pageShop(app(), parts[1]); break;
      case "voucher": await pageVoucher(app(), parts[1]); break;
      case "orders":
        if (!token) { needSignIn({ kind: "route" }); return; }
        await pageMyVouchers(app());
        break;
      case "ops": await pageOps(app(), updateNav); break;
      case "inbox":
        if (!token) { needSignIn({ kind: "route" }); return; }
        await pageInbox({ api, el, render, toast, fmtTime });
        break;
      default: render(el("h1", { text: "Not found" }), el("p", {}, el("a", { href: "#/", text: "Back to the feed" })));
    }
  } catch (e) {
    if (e.name === "AbortError") return; // a newer page took over
    const gone = e.code === "not_found";
    render(el("h1", { text: gone ? "Not found" : "Something went wrong" }), el("p", { text: human(e) }),
      el("p", { class: "actions" }, gone ? null : el("button", { type: "button", onclick: route }, "Try again"), el("a", { href: "#/", text: "Back to the feed" })));
  }
  main().focus({ preventScroll: true });
}

updateNav();
window.addEventListener("hashchange", route);
finishSignIn({ api, setSession, toast }).finally(route);
