// Signing in with a phone code, and coming back to what needed it.
//
// An action that needs a session (a like, an order, writing) sends a
// signed-out user here with needSignIn, which keeps the action and the
// route in sessionStorage (this tab's, and it survives the trip to an
// OpenID provider). After the sign-in the route is shown again and the
// page completes the action (takeResume) — once: an action kept for a
// route the user left, or for longer than ten minutes, is dropped.
//
// The app passes what the page needs, so the module imports nothing from it.

import { signInWith } from "./signin.js";

const RESUME = "zan.resume";
const TTL = 10 * 60 * 1000;

function kept() {
  try {
    const r = JSON.parse(sessionStorage.getItem(RESUME) || "null");
    if (r && Date.now() - r.at < TTL) return r;
  } catch (e) { /* a damaged entry is no entry */ }
  sessionStorage.removeItem(RESUME);
  return null;
}

// needSignIn keeps action ({kind, key}) for the route on screen and opens
// the sign-in page.
export function needSignIn(action) {
  const route = location.hash && !location.hash.startsWith("#/login") ? location.hash : "#/";
  sessionStorage.setItem(RESUME, JSON.stringify({ route, kind: action.kind, key: action.key, at: Date.now(), ready: false }));
  location.hash = "#/login";
}

// signedIn marks the kept action as due: the session it waited for exists.
export function signedIn() {
  const r = kept();
  if (r) sessionStorage.setItem(RESUME, JSON.stringify({ ...r, ready: true }));
}

// resumeRoute is where a finished sign-in goes: the kept route, or the feed.
export function resumeRoute() {
  return kept()?.route || "#/";
}

// routed drops a kept action when the user went somewhere else than the
// sign-in page or the action's route.
export function routed(hash) {
  const r = kept();
  if (r && !hash.startsWith("#/login") && hash !== r.route) sessionStorage.removeItem(RESUME);
}

// takeResume reports whether the page should now do the kept action of
// this kind and key (and forgets it).
export function takeResume(kind, key) {
  const r = kept();
  if (!r || !r.ready || r.kind !== kind || r.key !== key || location.hash !== r.route) return false;
  sessionStorage.removeItem(RESUME);
  return true;
}

export async function pageLogin({ api, el, render, toast, fail, pending, setSession, timers }) {
  const phone = el("input", { id: "phone", name: "phone", type: "tel", autocomplete: "tel", required: true, placeholder: "13800138000" });
  const code = el("input", { id: "code", name: "code", inputmode: "numeric", autocomplete: "one-time-code", required: true, maxlength: "6" });
  const dev = el("p", { id: "devcode", hidden: true });
  const send = el("button", { type: "button", id: "send-code" }, "Send code");
  // A phone gets one code a minute: the button counts the wait down.
  const countdown = (secs) => {
    send.disabled = true;
    const until = Date.now() + secs * 1000;
    const tick = () => {
      const left = Math.ceil((until - Date.now()) / 1000);
      if (left <= 0) { send.disabled = false; send.textContent = "Resend code"; clearInterval(t); return; }
      send.textContent = "Resend in " + left + " s";
    };
    const t = setInterval(tick, 1000);
    timers.push(t);
    tick();
  };
  send.addEventListener("click", async () => {
    if (!phone.value.trim()) { toast("Please type your phone number first.", true); phone.focus(); return; }
    if (send.disabled) return;
    send.disabled = true;
    try {
      const r = await api("POST", "/auth/code", { phone: phone.value.trim() });
      countdown(60);
      if (r.dev_code) {
        dev.replaceChildren("Development mode: your code is ", el("span", { class: "devcode", text: r.dev_code }));
        dev.hidden = false;
        code.value = r.dev_code;
      } else {
        toast("Code sent by SMS");
      }
      code.focus();
    } catch (e) {
      send.disabled = false;
      if (e.code === "rate_limited" && e.retryAfter) countdown(Number(e.retryAfter) || 60);
      if (e.code === "bad_request") toast("That doesn't look like a phone number. Type 11 digits, like 13800138000.", true);
      else fail(e);
    }
  });
  const form = el("form", { id: "login-form" },
    el("label", { for: "phone", text: "Phone" }), el("div", { class: "row" }, phone, send),
    dev,
    el("label", { for: "code", text: "Code" }), code,
    el("p", {}, el("button", { class: "primary", type: "submit", id: "login" }, "Sign in")));
  const loginBtn = form.querySelector("#login");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    pending(loginBtn, "Signing in…", async () => {
      try {
        const r = await api("POST", "/auth/login", { phone: phone.value.trim(), code: code.value.trim() });
        setSession(r.token, r.user);
        toast("Welcome, " + r.user.nickname);
        location.hash = resumeRoute();
      } catch (e) {
        if (e.code === "unauthorized" || e.code === "bad_request") toast("That code is not right, or it has expired. Check it, or send a new one.", true);
        else fail(e);
      }
    });
  });
  render(el("h1", { text: "Sign in" }), form);
  phone.focus();
  signInWith({ api, el }).then((n) => { if (n) form.after(n); }, fail);
}

