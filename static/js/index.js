/** The home page: in demo mode, links with the demo tokens. */
import { pageLink } from "./ui.js";

const res = await fetch("/demo.json").catch(() => null);
if (res?.ok) {
  /** @type {{ room: string; hostToken: string; participantToken: string; viewerToken: string }} */
  const demo = await res.json();
  const set = (/** @type {string} */ id, /** @type {string} */ href) => {
    const a = /** @type {HTMLAnchorElement} */ (document.getElementById(id));
    a.href = href;
  };
  /** @type {HTMLElement} */ (document.getElementById("demo-room")).textContent = demo.room;
  set("demo-publish", pageLink("publish.html", demo.room, demo.hostToken));
  set("demo-watch", pageLink("watch.html", demo.room, demo.viewerToken));
  set("demo-room-host", pageLink("room.html", demo.room, demo.hostToken));
  set("demo-room-guest", pageLink("room.html", demo.room, demo.participantToken));
  /** @type {HTMLElement} */ (document.getElementById("demo")).hidden = false;
}
