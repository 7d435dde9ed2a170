// Sign-in through OpenID providers: the "Sign in with …" buttons, the
// return from a provider, and the linked accounts of the account page.
//
// The server hands a finished sign-in back in the address's fragment
// (#zan_oidc=<one-time code>), which browsers never send to a server; the
// code is exchanged for a session by POST, once, and the fragment is
// replaced at once so the code does not stay in the history. The route the
// user was on is kept in sessionStorage across the trip to the provider,
// and shown again afterwards.
//
// The app passes what this module needs (its API call, setSession, toast
// and el), so the module imports nothing from it.

const RETURN = "zan.return";

// The last route that was not the sign-in page: where a sign-in returns.
let lastRoute = "#/";
function remember() {
  const h = location.hash || "#/";
  if (!h.startsWith("#/login") && !h.startsWith("#zan_oidc")) lastRoute = h;
}
remember();
window.addEventListener("hashchange", remember);

const errors = {
  access_denied: "Sign-in was cancelled at the provider.",
  conflict: "That account is already linked to another user, or you have another account of this provider linked.",
  invalid_token: "The provider's answer could not be verified. Try again.",
  exchange_failed: "The provider did not accept this sign-in. Try again.",
  unavailable: "The provider or zan is unavailable. Try again later.",
};

// go sends the browser to url, to come back to the current route.
function go(url) {
  sessionStorage.setItem(RETURN, lastRoute);
  location.assign(url);
}

// finishSignIn handles an address the server sent the browser back to
// after a provider; it resolves when the route can be drawn.
export async function finishSignIn({ api, setSession, toast }) {
  const m = /^#zan_oidc(_linked|_error)?=([A-Za-z0-9_-]{1,128})$/.exec(location.hash);
  if (!m) return;
  const back = sessionStorage.getItem(RETURN) || "#/";
  sessionStorage.removeItem(RETURN);
  history.replaceState(null, "", location.pathname + location.search + back);
  lastRoute = back;
  const [, kind, value] = m;
  if (kind === "_error") {
    toast(errors[value] || "Sign-in failed (" + value + ").", true);
  } else if (kind === "_linked") {
    toast("Account linked.");
  } else {
    try {
      const r = await api("POST", "/auth/oidc/exchange", { code: value });
      setSession(r.token, r.user);
      toast("Welcome, " + r.user.nickname);
    } catch (e) {
      toast("Sign-in failed: " + e.message, true);
    }
  }
}

let providersCache = null;
async function providers(api) {
  if (!providersCache) providersCache = api("GET", "/auth/providers").then((r) => r.items, () => { providersCache = null; return []; });
  return providersCache;
}

// signInWith returns the "Sign in with …" buttons, or null without providers.
export async function signInWith({ api, el }) {
  const ps = await providers(api);
  if (!ps.length) return null;
  return el("div", { class: "providers", id: "providers" },
    el("p", { class: "muted", text: "Or sign in with another account:" }),
    ps.map((p) => el("button", { type: "button", "data-provider": p.id,
      onclick: () => go("/api/v1/auth/oidc/" + encodeURIComponent(p.id) + "/start?return_to=/") }, "Sign in with " + p.name)));
}

// linkedAccounts returns the account page's section of linked providers,
// or null without providers.
export async function linkedAccounts({ api, el, toast }) {
  const ps = await providers(api);
  if (!ps.length) return null;
  const list = el("ul", { id: "linked" });
  const section = el("section", {}, el("h2", { text: "Sign-in methods" }), list);
  const draw = async () => {
    const ways = await api("GET", "/me/identities");
    const linked = new Set(ways.items.map((i) => i.provider));
    list.replaceChildren(...[
      ways.phone ? el("li", { text: "Phone number" }) : null,
      ...ps.map((p) => el("li", {}, p.name + " ",
        linked.has(p.id)
          ? el("button", { type: "button", "data-unlink": p.id, onclick: async () => {
            try { await api("DELETE", "/me/identities/" + encodeURIComponent(p.id)); toast(p.name + " unlinked."); await draw(); } catch (e) {
              toast(e.code === "conflict" ? "This is your only way to sign in: link another first." : e.message, true);
            }
          } }, "Unlink")
          : el("button", { type: "button", "data-link": p.id, onclick: async () => {
            try { go((await api("POST", "/me/identities/" + encodeURIComponent(p.id), { return_to: "/" })).redirect_url); } catch (e) { toast(e.message, true); }
          } }, "Link"))),
    ].filter(Boolean));
  };
  await draw();
  return section;
}
