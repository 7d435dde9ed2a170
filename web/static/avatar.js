// Avatars: a picture drawn from a user's id and the style they chose (0,
// the default, picks one from the id), with the first letter of their
// name. The server keeps only the style number, so no uploaded image is
// ever shown. The letter is drawn by CSS from a data attribute: it is not
// part of the text around it (a name next to an avatar reads once).

export const STYLES = 11; // zan.MaxAvatar: styles 1..11 besides the default

// styleOf is the style drawn for (id, avatar): the chosen one, or for the
// default one picked from the id, so that it is the same everywhere.
export function styleOf(id, avatar) {
  if (avatar >= 1 && avatar <= STYLES) return avatar;
  let h = 0;
  for (const c of String(id)) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return 1 + (h % STYLES);
}

// avatar draws user ({id, nickname, avatar}); style overrides the user's
// (the picker shows every style).
export function avatar(el, user, size = "s", style) {
  const s = styleOf(user.id, style === undefined ? user.avatar : style);
  const letter = (Array.from((user.nickname || "").trim())[0] || "?").toUpperCase();
  return el("span", { class: "avatar av-" + s + " avatar-" + size, "data-letter": letter, "data-style": String(s), "aria-hidden": "true" });
}

// person is a link to a user's page: avatar and name.
export function person(el, user, size = "s") {
  return el("a", { class: "person", href: "#/user/" + user.id }, avatar(el, user, size), user.nickname || "someone");
}
