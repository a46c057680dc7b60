// Small DOM helpers: elements built from data (never HTML strings), numbers and times as people
// read them, a toast, a confirmation dialog.

/** An element with attributes, text and children; `on<event>` props become listeners. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

/**
 * Replace a table body's rows; shows `empty` (an element) when there are none. Each cell gets
 * its column's name as `data-label`, which a phone-width screen shows beside the value.
 */
export function fillTable(tbody, rows, empty) {
  const names = [...tbody.closest("table").querySelectorAll("thead th")].map((th) => th.textContent.trim());
  for (const row of rows) {
    [...row.children].forEach((cell, index) => {
      cell.dataset.label = names[index] || "";
    });
  }
  // a reload must not take the focus away from a row's button (keyboard users poll along)
  const active = document.activeElement;
  const focused = active && tbody.contains(active) ? active.getAttribute("aria-label") : null;
  tbody.replaceChildren(...rows);
  if (empty) empty.hidden = rows.length > 0;
  if (focused) {
    const again = [...tbody.querySelectorAll("[aria-label]")].find((e) => e.getAttribute("aria-label") === focused);
    if (again) again.focus({ preventScroll: true });
  }
}

/** A button for a table row. */
export function rowButton(text, label, onclick, kind = "secondary") {
  return el("button", { type: "button", class: `button small ${kind}`, "aria-label": label, text, onclick });
}

const number = new Intl.NumberFormat();

/** 12345 -> "12,345" (the reader's locale); "–" for a missing value. */
export function count(value) {
  return typeof value === "number" ? number.format(value) : "–";
}

/** Seconds as "85 ms" or "1.24 s"; "–" when unknown. */
export function duration(seconds) {
  if (typeof seconds !== "number") return "–";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
}

/** A Unix time as the reader's local time (with the date when not today). */
export function clockTime(unix) {
  const when = new Date(unix * 1000);
  const today = new Date();
  const sameDay = when.toDateString() === today.toDateString();
  const time = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return sameDay ? time : `${when.toLocaleDateString()} ${time}`;
}

/** A Unix time relative to now: "in 5 min", "3 h ago", "just now". */
export function relative(unix) {
  const seconds = Math.round(unix - Date.now() / 1000);
  const size = Math.abs(seconds);
  if (size < 5) return "just now";
  let text;
  if (size < 60) text = `${size} s`;
  else if (size < 3600) text = `${Math.round(size / 60)} min`;
  else if (size < 86400) text = `${Math.round(size / 3600)} h`;
  else text = `${Math.round(size / 86400)} d`;
  return seconds >= 0 ? `in ${text}` : `${text} ago`;
}

/** A link that leaves the page, only for http(s) URLs (null otherwise). */
export function outsideLink(url, text) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return null;
  return el("a", { href: parsed.href, target: "_blank", rel: "noopener noreferrer", text });
}

let toastTimer = 0;

/** A short message in the corner (announced to screen readers). */
export function toast(message, bad = false) {
  const node = document.getElementById("toast");
  node.textContent = message;
  node.classList.toggle("bad", bad);
  node.classList.add("shown");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => node.classList.remove("shown"), bad ? 8000 : 4000);
}

/** Ask before something that cannot be undone; resolves to true on "Yes". */
export function confirmAction(title, text, yes) {
  const dialog = document.getElementById("confirm-dialog");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  const yesButton = document.getElementById("confirm-yes");
  const noButton = document.getElementById("confirm-no");
  yesButton.textContent = yes;
  return new Promise((resolve) => {
    const finish = (answer) => {
      yesButton.removeEventListener("click", onYes);
      noButton.removeEventListener("click", onNo);
      dialog.removeEventListener("close", onClose);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const onYes = () => finish(true);
    const onNo = () => finish(false);
    const onClose = () => finish(false);
    yesButton.addEventListener("click", onYes);
    noButton.addEventListener("click", onNo);
    dialog.addEventListener("close", onClose);
    dialog.showModal();
    noButton.focus();
  });
}

/** Disable a form's submit button while `work` runs. */
export async function busy(button, work) {
  button.disabled = true;
  try {
    return await work();
  } finally {
    button.disabled = false;
  }
}
