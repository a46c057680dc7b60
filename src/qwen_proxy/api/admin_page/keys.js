// The Keys screen: named client keys with their limits and usage; create (the key is shown
// once), revoke. A gateway without the /admin/keys routes answers 404: the screen says so.

import { api } from "./api.js";
import { busy, clockTime, confirmAction, count, el, fillTable, relative, rowButton, toast } from "./ui.js";

function limits(row) {
  const parts = [];
  if (row.rpm) parts.push(`${count(row.rpm)} req/min`);
  if (row.tpm) parts.push(`${count(row.tpm)} tokens/min`);
  if (row.concurrency) parts.push(`${count(row.concurrency)} at once`);
  if (Array.isArray(row.models) && row.models.length) parts.push(`models: ${row.models.join(", ")}`);
  return parts.length ? parts.join(" · ") : "no limits";
}

function usage(row, period, field) {
  const values = row.usage && row.usage[period];
  return values ? values[field] : undefined;
}

/** A positive whole number from an input, or undefined when empty. */
function whole(input) {
  const text = input.value.trim();
  return text === "" ? undefined : Number(text);
}

export class KeysScreen {
  constructor() {
    this.tbody = document.querySelector("#keys-table tbody");
    this.empty = document.getElementById("keys-empty");
    this.unavailable = document.getElementById("keys-unavailable");
    this.body = document.getElementById("keys-body");
    this.secret = document.getElementById("new-key");
    this.secretValue = document.getElementById("new-key-value");
    /** whether the gateway has the keys routes (null: not known, ask) */
    this.available = null;
    document.getElementById("keys-refresh").addEventListener("click", () => this.refresh());
    document.getElementById("add-key-form").addEventListener("submit", (event) => this.create(event));
    document.getElementById("new-key-copy").addEventListener("click", () => this.copy());
    document.getElementById("new-key-done").addEventListener("click", () => this.hideSecret());
  }

  showAvailable(available) {
    this.available = available;
    this.unavailable.hidden = available;
    this.body.hidden = !available;
  }

  async load() {
    if (this.available === false) {
      this.showAvailable(false);
      return;
    }
    let answer;
    try {
      answer = await api("GET", "/admin/keys");
    } catch (error) {
      if (error.status !== 404) throw error;
      this.showAvailable(false);
      return;
    }
    this.showAvailable(true);
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
    const expires = typeof row.expires_at === "number"
      ? el("td", {}, el("span", { text: clockTime(row.expires_at) }), el("span", { class: "sub", text: relative(row.expires_at) }))
      : el("td", { text: "never" });
    const lastUsed = typeof row.last_used_at === "number" ? relative(row.last_used_at) : "never";
    // the gateway keeps a revoked key listed, with its usage, until its name is reused
    const revoked = row.state === "revoked";
    const action = revoked
      ? el("td", { text: "revoked" })
      : el("td", {}, rowButton("Revoke", `Revoke key ${row.name}`, () => this.revoke(row.name), "danger"));
    return el(
      "tr",
      { "data-key": row.name, "data-state": row.state || "active" },
      el("td", {}, el("strong", { text: row.name })),
      el("td", { text: limits(row) }),
      expires,
      el("td", { class: "num", text: `${count(usage(row, "today", "requests"))} / ${count(usage(row, "total", "requests"))}` }),
      el("td", { class: "num", text: `${count(usage(row, "total", "input_tokens"))} / ${count(usage(row, "total", "output_tokens"))}` }),
      el("td", { text: lastUsed }),
      action,
    );
  }

  async create(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const error = document.getElementById("add-key-error");
    error.textContent = "";
    const name = form.elements.name.value.trim();
    if (!name) {
      error.textContent = "Give the key a name (the person or tool that uses it).";
      form.elements.name.focus();
      return;
    }
    const body = { name };
    for (const field of ["rpm", "tpm", "concurrency"]) {
      const value = whole(form.elements[field]);
      if (value === undefined) continue;
      if (!Number.isInteger(value) || value < 1) {
        error.textContent = `${form.elements[field].labels[0].textContent} must be a whole number above 0.`;
        form.elements[field].focus();
        return;
      }
      body[field] = value;
    }
    const models = form.elements.models.value.split(",").map((m) => m.trim()).filter(Boolean);
    if (models.length) body.models = models;
    if (form.elements.expires.value) body.expires = form.elements.expires.value;
    await busy(form.querySelector("button[type=submit]"), async () => {
      try {
        const created = await api("POST", "/admin/keys", body);
        form.reset();
        this.showSecret(created.name, created.key);
        await this.load();
      } catch (failure) {
        error.textContent = failure.status === 404
          ? "This gateway has no /admin/keys route: named keys are not available."
          : failure.message;
      }
    });
  }

  showSecret(name, key) {
    document.getElementById("new-key-name").textContent = name;
    this.secretValue.value = key;
    this.secret.hidden = false;
    document.getElementById("new-key-copy").focus();
  }

  hideSecret() {
    this.secretValue.value = "";
    this.secret.hidden = true;
    document.getElementById("key-name").focus();
  }

  async copy() {
    const key = this.secretValue.value;
    try {
      await navigator.clipboard.writeText(key);
      toast("The key is on the clipboard.");
    } catch {
      // no clipboard access (a plain-http page elsewhere than localhost): select it for Ctrl+C
      this.secretValue.focus();
      this.secretValue.select();
      toast("Press Ctrl+C (or ⌘C) to copy the selected key.");
    }
  }

  async revoke(name) {
    const sure = await confirmAction(
      `Revoke key ${name}?`,
      "Clients using it are refused from now on. This cannot be undone.",
      "Revoke",
    );
    if (!sure) return;
    try {
      await api("DELETE", `/admin/keys/${encodeURIComponent(name)}`);
      toast(`Revoked key ${name}.`);
      await this.load();
    } catch (error) {
      toast(error.message, true);
    }
  }
}
