// A user's page: their avatar, posts and likes; on one's own page also the
// name and avatar to edit, "My vouchers", sign-in methods and sign out.
//
// The app passes what this page needs (its API call, DOM helpers, the
// session, the blog card), so the module imports nothing from it.

import { STYLES, avatar } from "./avatar.js";
import { linkedAccounts } from "./signin.js";

// avatarPicker offers the default and every style; a choice is saved at
// once and drawn wherever the user is shown.
function avatarPicker({ api, el, toast, fail, session, setSession }, shown) {
  const me = session().me;
  const row = el("div", { class: "avatars", id: "avatar-picker", role: "group", "aria-label": "Your picture" });
  const choices = [];
  for (let s = 0; s <= STYLES; s++) {
    const b = el("button", { type: "button", "data-avatar": String(s), "aria-pressed": String((me.avatar || 0) === s),
      "aria-label": s ? "Style " + s : "Default", title: s ? "Style " + s : "Default (picked from your id)" }, avatar(el, me, "m", s));
    b.addEventListener("click", async () => {
      try {
        const u = await api("PATCH", "/me", { avatar: s });
        const now = session();
        setSession(now.token, { ...now.me, avatar: u.avatar });
        for (const c of choices) c.setAttribute("aria-pressed", String(c === b));
        shown.replaceWith(shown = avatar(el, u, "l"));
        toast("Saved: your new picture");
      } catch (e) { fail(e); }
    });
    choices.push(b);
  }
  row.append(...choices);
  return el("div", {}, el("label", { text: "Your picture" }), row);
}

export async function pageUser(app, uid) {
  const { api, el, render, toast, fail, pending, fmtTime, counts, blogCard, watch, session, setSession } = app;
  const [user, blogs, likes] = await Promise.all([api("GET", "/users/" + uid), api("GET", "/users/" + uid + "/blogs?limit=20"), api("GET", "/users/" + uid + "/likes?limit=20")]);
  const me = session().me;
  const isMe = !!me && me.id === uid;
  const counted = await counts(blogs.items.map((b) => "blog:" + b.id));
  const pic = avatar(el, user, "l");
  const name = el("span", { text: user.nickname });
  const heading = el("h1", { class: "person" }, pic, name);
  let rename = null, picker = null;
  if (isMe) {
    const nick = el("input", { id: "nickname", maxlength: "32", required: true, value: me.nickname, autocomplete: "nickname" });
    const save = el("button", { type: "submit", id: "save-nickname" }, "Save");
    rename = el("form", { id: "rename" }, el("label", { for: "nickname", text: "Your name, as others see it" }), el("div", { class: "row" }, nick, save));
    rename.addEventListener("submit", (ev) => {
      ev.preventDefault();
      pending(save, "Saving…", async () => {
        try {
          const u = await api("PATCH", "/me", { nickname: nick.value });
          setSession(session().token, { ...session().me, nickname: u.nickname });
          name.textContent = u.nickname;
          nick.value = u.nickname;
          toast("Saved: others now see you as " + u.nickname);
        } catch (e) { fail(e); }
      });
    });
    picker = avatarPicker(app, pic);
  }
  render(
    heading,
    rename,
    picker,
    isMe ? el("p", { class: "actions" }, el("a", { href: "#/orders", id: "my-vouchers" }, "My vouchers"),
      el("button", { type: "button", id: "logout", onclick: async () => {
        try { await api("POST", "/auth/logout"); } catch (e) { /* the session ends here either way */ }
        setSession("", null);
        location.hash = "#/";
      } }, "Sign out")) : null,
    isMe ? el("div", { id: "sign-in-methods" }) : null,
    el("h2", { text: "Posts" }),
    blogs.items.length ? blogs.items.map((b) => blogCard(b, counted)) : el("p", { class: "muted", text: "No posts." }),
    el("h2", { text: "Likes" }),
    likes.items.length ? el("ul", { id: "user-likes" }, likes.items.map((l) => el("li", {},
      l.type === "blog" || l.type === "shop"
        ? [l.type === "shop" ? "Shop: " : "", l.name ? el("a", { href: "#/" + l.type + "/" + l.id, text: l.name }) : el("span", { class: "muted", text: "(deleted)" })]
        : l.type + " " + l.id,
      el("span", { class: "meta", text: " · " + fmtTime(l.liked_at) })))) : el("p", { class: "muted", text: "No likes." }));
  watch(blogs.items.map((b) => "blog:" + b.id));
  if (isMe) linkedAccounts({ api, el, toast }).then((n) => { if (n) document.getElementById("sign-in-methods")?.replaceWith(n); }, fail);
}
