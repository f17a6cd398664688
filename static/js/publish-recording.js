/**
 * The publish page's Recording card (the host's): start and stop recording the host's
 * publication, and the room's recordings with a download link each. The server answers 404
 * `recording is off` when its operator did not set RECORDINGS_DIR; the card then says so. A
 * download goes through `fetch` (the token travels in the Authorization header, never in a URL)
 * and is saved from a blob URL.
 */

/**
 * @typedef {{ id: string; name: string; state: string; size: number; duration: number | null;
 *   codecs: Record<string, string>; publisher: string }} Recording
 */

/**
 * Wires the card: `els` holds its elements, `current()` gives the room and token entered.
 * @param {{ start: HTMLButtonElement; stop: HTMLButtonElement; list: HTMLElement;
 *   note: HTMLElement }} els
 * @param {() => { room: string; token: string }} current
 */
export function setupRecording(els, current) {
  /** @type {string | null} the running recording's id */
  let running = null;
  let timer = 0;

  const base = () => `/rooms/${encodeURIComponent(current().room)}/recordings`;
  const call = (/** @type {string} */ url, /** @type {RequestInit} */ init = {}) =>
    fetch(url, { ...init, headers: { Authorization: `Bearer ${current().token}` } });

  const problem = async (/** @type {Response} */ r) => {
    try {
      return (await r.json()).detail ?? `HTTP ${r.status}`;
    } catch {
      return `HTTP ${r.status}`;
    }
  };

  async function refresh() {
    const { room, token } = current();
    if (!room || !token) {
      els.note.textContent = "Enter the room and a host token to record.";
      return;
    }
    const r = await call(base()).catch(() => null);
    if (!r) return;
    if (!r.ok) {
      els.note.textContent = await problem(r);
      els.start.disabled = els.stop.disabled = true;
      return;
    }
    /** @type {Recording[]} */
    const recordings = (await r.json()).recordings;
    const live = recordings.find((x) => x.state === "waiting" || x.state === "recording");
    running = live?.id ?? null;
    els.start.disabled = running !== null;
    els.stop.disabled = running === null;
    els.note.textContent = live
      ? live.state === "waiting" ? "Waiting for the first keyframe…" : "Recording."
      : recordings.length
      ? ""
      : "No recordings yet.";
    els.list.replaceChildren(...recordings.map(item));
    clearTimeout(timer);
    if (running) timer = setTimeout(refresh, 3000);
  }

  /** One line: name, duration, size, state, and a download link once it is written. */
  function item(/** @type {Recording} */ rec) {
    const li = document.createElement("li");
    const seconds = rec.duration === null ? "" : `${rec.duration.toFixed(1)} s, `;
    const codecs = Object.values(rec.codecs).join(" + ");
    const text = document.createElement("span");
    text.textContent = `${rec.name} (${seconds}${(rec.size / 1e6).toFixed(1)} MB${
      codecs ? `, ${codecs}` : ""
    }, ${rec.state})`;
    li.append(text);
    if (rec.size > 0 && rec.state !== "waiting") {
      const a = document.createElement("a");
      a.href = `${base()}/${rec.id}`;
      a.textContent = "Download";
      a.className = "download";
      a.addEventListener("click", (e) => {
        e.preventDefault();
        download(rec).catch((err) => els.note.textContent = String(err));
      });
      li.append(" ", a);
    }
    return li;
  }

  async function download(/** @type {Recording} */ rec) {
    const r = await call(`${base()}/${rec.id}`);
    if (!r.ok) throw new Error(await problem(r));
    const url = URL.createObjectURL(await r.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = rec.name;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }

  els.start.addEventListener("click", async () => {
    els.start.disabled = true;
    const r = await call(base(), { method: "POST" });
    if (!r.ok) els.note.textContent = await problem(r);
    await refresh();
  });
  els.stop.addEventListener("click", async () => {
    if (!running) return;
    els.stop.disabled = true;
    const r = await call(`${base()}/${running}`, { method: "DELETE" });
    if (!r.ok) els.note.textContent = await problem(r);
    await refresh();
  });
  return { refresh };
}
