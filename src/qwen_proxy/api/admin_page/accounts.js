// The Accounts screen: each account's state, token and counters; add one from a copied
// request, paste fresh cookies after a captcha, check, remove. The gateway never sends a
// secret back (emails and tokens come masked).

import { api } from "./api.js";
import {
  busy, clockTime, confirmAction, count, el, fillTable, outsideLink, relative, rowButton, toast,
} from "./ui.js";

/** How each state reads: [label, badge kind]. */
const STATES = {
  active: ["Usable", "ok"],
  cooling: ["Cooling down", "warn"],
  quarantined: ["Captcha", "bad"],
  disabled: ["Disabled", "bad"],
  renewing: ["Renewing token", "info"],
};

function stateLabel(state) {
  if (STATES[state]) return STATES[state];
  // the renewal work names its "needs a new browser session" state; any such name reads so
  if (/session/i.test(state)) return ["Needs a new browser session", "bad"];
  return [state, "info"];
}

function path(name, action) {
  const base = `/admin/accounts/${encodeURIComponent(name)}`;
  return action ? `${base}/${action}` : base;
}

function stateCell(row) {
  const [label, kind] = stateLabel(row.state);
  const cell = el("td", {}, el("span", { class: `badge ${kind}`, text: label }));
  if (row.cooldown_until) {
    cell.append(el("span", { class: "sub", text: `until ${clockTime(row.cooldown_until)} (${relative(row.cooldown_until)})` }));
  }
  if (row.state === "quarantined") {
    const link = row.verify_url ? outsideLink(row.verify_url, "Verify in the browser") : null;
    cell.append(el("span", { class: "sub" }, link || "Verify in a browser signed in to the account", ", then paste fresh cookies"));
  }
  if (row.message) cell.append(el("span", { class: "sub", text: row.message }));
  return cell;
}

function expiryCell(row) {
  const cell = el("td");
  if (typeof row.expires_at !== "number") {
    cell.append(el("span", { class: "sub", text: "unknown" }));
  } else {
    cell.append(el("span", { text: clockTime(row.expires_at) }), " ");
    cell.append(el("span", { class: "sub", text: relative(row.expires_at) }));
    if (row.expiring_soon) cell.append(el("span", { class: "badge warn", text: "expires soon" }));
  }
  if (row.can_sign_in) cell.append(el("span", { class: "sub", text: "renews by signing in" }));
  return cell;
}

export class AccountsScreen {
  constructor(cookiesDialog) {
    this.cookiesDialog = cookiesDialog;
    this.tbody = document.querySelector("#accounts-table tbody");
    this.empty = document.getElementById("accounts-empty");
    document.getElementById("accounts-refresh").addEventListener("click", () => this.refresh());
    document.getElementById("add-account-form").addEventListener("submit", (event) => this.add(event));
  }

  /** Load the rows again (polled while the screen shows). */
  async load() {
    const answer = await api("GET", "/admin/accounts");
    fillTable(this.tbody, answer.data.map((row) => this.row(row)), this.empty);
  }

  async refresh() {
    try {
      await this.load();
    } catch (error) {
      toast(error.message, true);
    }
  }

  row(row) {
    const name = el("td", {}, el("strong", { text: row.name }));
    if (row.email) name.append(el("span", { class: "sub", text: row.email }));
    const actions = el(
      "div",
      { class: "actions" },
      rowButton("Check", `Check account ${row.name}`, () => this.check(row.name)),
      rowButton("Paste cookies", `Paste fresh cookies for account ${row.name}`, () => this.cookiesDialog.open(row.name)),
      rowButton("Remove", `Remove account ${row.name}`, () => this.remove(row.name), "danger"),
    );
    return el(
      "tr",
      { "data-account": row.name, "data-state": row.state },
      name,
      stateCell(row),
      expiryCell(row),
      el("td", { class: "num", text: count(row.requests) }),
      el("td", { class: "num", text: count(row.failures) }),
      el("td", { class: "num", text: count(row.in_flight) }),
      el("td", {}, actions),
    );
  }

  async check(name) {
    try {
      const result = await api("POST", path(name, "check"));
      toast(`${name}: ${result.result}: ${result.message}`, result.result !== "valid");
      await this.load();
    } catch (error) {
      toast(error.message, true);
    }
  }

  async remove(name) {
    const sure = await confirmAction(
      `Remove account ${name}?`,
      "The gateway stops using it and forgets its browser session. Its requests in flight finish.",
      "Remove",
    );
    if (!sure) return;
    try {
      await api("DELETE", path(name));
      toast(`Removed account ${name}.`);
      await this.load();
    } catch (error) {
      toast(error.message, true);
    }
  }

  async add(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const error = document.getElementById("add-account-error");
    const result = document.getElementById("add-account-result");
    const name = form.elements.name.value.trim();
    const curl = form.elements.curl.value.trim();
    error.textContent = "";
    result.replaceChildren();
    if (!name || !curl) {
      error.textContent = "Give the account a name and paste the copied request.";
      (name ? form.elements.curl : form.elements.name).focus();
      return;
    }
    await busy(form.querySelector("button[type=submit]"), async () => {
      try {
        const answer = await api("POST", "/admin/accounts", { name, curl });
        // the pasted text holds the session's secrets: it leaves the page once used
        form.elements.curl.value = "";
        form.elements.name.value = "";
        result.replaceChildren(...this.found(answer));
        await this.load();
      } catch (failure) {
        error.textContent = failure.message;
        form.elements[failure.param === "name" ? "name" : "curl"].focus();
      }
    });
  }

  found(answer) {
    const found = answer.found || {};
    const rows = [
      ["Browser", [found.browser, found.version && `web ${found.version}`].filter(Boolean).join(", ")],
      ["Token", found.token],
      ["Token expires", typeof found.token_expires_at === "number" ? clockTime(found.token_expires_at) : null],
      ["Refresh token", found.refresh_token],
      ["Cookies", Array.isArray(found.cookies) ? found.cookies.join(", ") : null],
      ["Warnings", Array.isArray(found.warnings) && found.warnings.length ? found.warnings.join("; ") : null],
    ].filter(([, value]) => value);
    const list = el("dl", {}, ...rows.flatMap(([term, value]) => [el("dt", { text: term }), el("dd", { text: value })]));
    return [el("strong", { text: `Account ${answer.name} is ready (state: ${stateLabel(answer.state)[0]}).` }), list];
  }
}

/** The dialog where fresh cookies are pasted for one account. */
export class CookiesDialog {
  constructor(onSaved) {
    this.onSaved = onSaved;
    this.dialog = document.getElementById("cookies-dialog");
    this.form = document.getElementById("cookies-form");
    this.text = document.getElementById("cookies-text");
    this.error = document.getElementById("cookies-error");
    this.form.addEventListener("submit", (event) => this.save(event));
    document.getElementById("cookies-cancel").addEventListener("click", () => this.dialog.close());
    this.dialog.addEventListener("close", () => {
      this.text.value = "";
    });
  }

  open(name) {
    this.name = name;
    document.getElementById("cookies-account").textContent = name;
    this.error.textContent = "";
    this.text.value = "";
    this.dialog.showModal();
    this.text.focus();
  }

  async save(event) {
    event.preventDefault();
    const cookies = this.text.value.trim();
    if (!cookies) {
      this.error.textContent = "Paste the cookies first.";
      return;
    }
    await busy(this.form.querySelector("button[type=submit]"), async () => {
      try {
        const row = await api("POST", path(this.name, "cookies"), { cookies });
        this.dialog.close();
        toast(`Account ${this.name} has fresh cookies (state: ${stateLabel(row.state)[0]}).`);
        await this.onSaved();
      } catch (failure) {
        this.error.textContent = failure.message;
      }
    });
  }
}
