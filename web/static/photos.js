// Photos of posts: the thumbnail grid of a post, and the picker that
// uploads up to nine photos while a post is written or edited.
//
// Uploads go one request per photo as soon as they are picked, so the post
// itself is a small JSON call naming their ids. XMLHttpRequest, not fetch:
// only it reports upload progress.

export const MAX_PHOTOS = 9;
const MAX_BYTES = 10 << 20;
const TYPES = ["image/jpeg", "image/png", "image/webp"];

// photoGrid shows photos as thumbnails; each opens link (the post, in the
// feed) or the photo itself (on the post's page).
export function photoGrid(el, photos, link) {
  if (!photos || !photos.length) return null;
  const n = Math.min(photos.length, MAX_PHOTOS);
  return el("div", { class: "photos n" + n, "data-photos": String(n) },
    photos.slice(0, MAX_PHOTOS).map((p, i) => el("a", { href: link || p.url, target: link ? null : "_blank", rel: link ? null : "noopener" },
      el("img", { src: p.thumb_url, alt: "Photo " + (i + 1) + " of " + n, loading: "lazy", decoding: "async",
        width: String(Math.min(p.width, 480)), height: String(Math.round(Math.min(p.width, 480) * p.height / p.width)) }))));
}

// uploadError says why an upload failed in words a person can act on.
function uploadError(status, body, retryAfter) {
  const msg = body && body.error && body.error.message;
  switch (status) {
    case 0: return "Couldn't reach zan. Check your connection and pick the photo again.";
    case 401: return "Please sign in again to add photos.";
    case 413: return "This photo is over 10 MB. Pick a smaller one.";
    case 429: return "That's a lot of photos at once." + (retryAfter ? " Try again in " + retryAfter + " s." : " Try again in a moment.");
    case 400: return msg ? msg.charAt(0).toUpperCase() + msg.slice(1) + "." : "This file isn't a photo zan can read.";
    default: return "The upload failed. Try again in a moment.";
  }
}

function send(file, token, onProgress) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open("POST", "/api/v1/photos");
    x.setRequestHeader("Authorization", "Bearer " + token);
    x.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    x.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    x.onload = () => {
      let body = null;
      try { body = JSON.parse(x.responseText); } catch { /* not JSON */ }
      if (x.status === 201 && body) resolve(body);
      else reject(new Error(uploadError(x.status, body, x.getResponseHeader("Retry-After"))));
    };
    x.onerror = () => reject(new Error(uploadError(0)));
    x.send(file);
  });
}

// photoPicker returns the picker's node and its state: ids() are the
// uploaded photos in order, busy() whether some are still uploading.
export function photoPicker({ el, token, toast }, initial = []) {
  const items = initial.map((p) => ({ photo: p }));
  const input = el("input", { type: "file", id: "photo-input", accept: TYPES.join(","), multiple: true, class: "visually-hidden" });
  const add = el("label", { for: "photo-input", class: "photo-add", role: "button", tabindex: "0" }, "+ Add photos");
  const count = el("span", { class: "meta", id: "photo-count" });
  const tiles = el("div", { class: "photos picker", id: "photo-picker" });
  add.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });

  const draw = () => {
    tiles.replaceChildren(...items.map((it, i) => {
      const img = el("img", { src: it.preview || it.photo.thumb_url, alt: "Photo " + (i + 1) });
      const remove = el("button", { type: "button", class: "photo-remove", "aria-label": "Remove photo " + (i + 1), onclick: () => {
        items.splice(items.indexOf(it), 1);
        if (it.preview) URL.revokeObjectURL(it.preview);
        draw();
      } }, "×");
      const state = it.error ? el("p", { class: "photo-error", role: "alert", text: it.error })
        : it.photo ? null
        : el("progress", { max: "1", value: String(it.progress || 0), "aria-label": "Uploading photo " + (i + 1) });
      return el("figure", { class: "photo-tile" + (it.error ? " failed" : it.photo ? "" : " uploading"), "data-state": it.error ? "error" : it.photo ? "done" : "uploading" }, img, state, remove);
    }));
    const n = items.filter((it) => !it.error).length;
    count.textContent = n + " of " + MAX_PHOTOS + " photos";
    add.hidden = n >= MAX_PHOTOS;
  };

  input.addEventListener("change", () => {
    const files = [...input.files];
    input.value = ""; // the same file may be picked again after a failure
    for (const file of files) {
      if (items.filter((it) => !it.error).length >= MAX_PHOTOS) {
        toast("A post can show at most " + MAX_PHOTOS + " photos.", true);
        break;
      }
      const it = { preview: URL.createObjectURL(file), progress: 0 };
      items.push(it);
      if (!TYPES.includes(file.type)) it.error = "Only JPEG, PNG or WebP photos can be added.";
      else if (file.size > MAX_BYTES) it.error = "This photo is over 10 MB. Pick a smaller one.";
      if (it.error) continue;
      let last = 0;
      send(file, token(), (f) => {
        it.progress = f;
        const bar = tiles.children[items.indexOf(it)]?.querySelector("progress");
        if (bar && f - last > 0.02) { bar.value = f; last = f; }
      }).then((p) => { it.photo = p; }, (e) => { it.error = e.message; }).finally(draw);
    }
    draw();
  });
  draw();
  return {
    node: el("div", { class: "photo-field" }, el("p", { class: "actions" }, add, count), input, tiles),
    ids: () => items.filter((it) => it.photo).map((it) => it.photo.id),
    busy: () => items.some((it) => !it.photo && !it.error),
  };
}
