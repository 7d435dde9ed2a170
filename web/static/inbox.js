// Notifications: the bell with the unread count in the header, and the
// inbox page.
//
// The count comes from GET /api/v1/notifications/stream, read with fetch
// rather than EventSource: EventSource cannot send an Authorization header,
// and the session token must not go into an address (where logs and
// history keep it). The stream sends the count at once and after every
// change of the inbox on any node; when it drops it is opened again with
// back-off, and the count it sends first repairs whatever was missed.
//
// The app passes what this module needs (its API call, el, the token), so
// the module imports nothing from it.

const bell = { abort: null, wait: 1000, retry: null, count: 0 };

function showCount(n) {
  bell.count = n;
  const a = document.getElementById("nav-bell");
  const badge = document.getElementById("bell-count");
  if (!a || !badge) return;
  badge.textContent = String(n);
  badge.hidden = n === 0;
  a.setAttribute("aria-label", n === 1 ? "Notifications: 1 unread" : "Notifications: " + n + " unread");
}

// startBell follows the unread count for the session token (stopBell on
// logout). Calling it again restarts it.
export function startBell(apiBase, token) {
  stopBell();
  const a = document.getElementById("nav-bell");
  if (!token || !a) return;
  a.hidden = false;
  const ctl = new AbortController();
  bell.abort = ctl;
  const connect = async () => {
    try {
      const res = await fetch(apiBase + "/notifications/stream", {
        headers: { Authorization: "Bearer " + token, Accept: "text/event-stream" },
        signal: ctl.signal,
      });
      if (res.status === 401) { stopBell(); return; }
      if (!res.ok || !res.body) throw new Error("stream: " + res.status);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          for (const line of block.split("\n")) {
            if (!line.startsWith("data: ")) continue;
            const d = JSON.parse(line.slice(6));
            if (typeof d.unread === "number") { bell.wait = 1000; showCount(d.unread); }
          }
        }
      }
    } catch (e) {
      if (ctl.signal.aborted) return;
    }
    if (ctl.signal.aborted) return;
    bell.retry = setTimeout(connect, bell.wait);
    bell.wait = Math.min(bell.wait * 2, 30000);
  };
  connect();
}

export function stopBell() {
  if (bell.abort) bell.abort.abort();
  bell.abort = null;
  clearTimeout(bell.retry);
  const a = document.getElementById("nav-bell");
  if (a) a.hidden = true;
  showCount(0);
}

function who(it) {
  const names = it.actors.map((u) => u.nickname);
  const others = it.actor_count - names.length;
  if (others > 0) return names.join(", ") + " and " + others + (others === 1 ? " other" : " others");
  if (names.length <= 1) return names.join("") || "Someone";
  return names.slice(0, -1).join(", ") + " and " + names[names.length - 1];
}

// pageInbox renders the inbox with paging and "mark all read".
export async function pageInbox({ api, el, render, toast, fmtTime }) {
  const list = el("div", { id: "inbox" });
  const more = el("button", { type: "button", hidden: true }, "More");
  const readAll = el("button", { type: "button", class: "primary" }, "Mark all read");
  let cursor = null;
  const item = (it) => {
    const card = el("div", { class: "card notification" + (it.read ? "" : " unread") },
      el("p", {}, el("strong", { text: who(it) }), " liked ",
        el("a", { href: "#/blog/" + it.target.id, text: "your post" })),
      el("p", { class: "meta", text: fmtTime(it.updated_at) + (it.read ? "" : " · new") }));
    if (!it.read) {
      card.append(el("button", { type: "button", onclick: async (ev) => {
        try {
          await api("POST", "/notifications/read", { ids: [it.id] });
          card.classList.remove("unread");
          ev.target.remove();
        } catch (e) { toast(e.message, true); }
      } }, "Mark read"));
    }
    return card;
  };
  const load = async () => {
    const r = await api("GET", "/notifications?limit=20" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
    for (const it of r.items) list.append(item(it));
    if (!list.children.length) list.append(el("p", { class: "muted", text: "Nothing yet. When someone likes your posts, it shows here." }));
    cursor = r.next_cursor;
    more.hidden = !cursor;
  };
  more.addEventListener("click", () => load().catch((e) => toast(e.message, true)));
  readAll.addEventListener("click", async () => {
    try {
      await api("POST", "/notifications/read", { all: true });
      list.replaceChildren();
      cursor = null;
      await load();
    } catch (e) { toast(e.message, true); }
  });
  render(el("h1", { text: "Notifications" }), el("p", {}, readAll), list, more);
  await load();
}
