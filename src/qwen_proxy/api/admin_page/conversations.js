// The Conversations screen: the newest chats the gateway remembers; purge one.

import { api } from "./api.js";
import { clockTime, confirmAction, count, el, fillTable, relative, rowButton, toast } from "./ui.js";

export class ConversationsScreen {
  constructor() {
    this.tbody = document.querySelector("#conversations-table tbody");
    this.empty = document.getElementById("conversations-empty");
    this.limit = document.getElementById("conversations-limit");
    this.limit.addEventListener("change", () => this.refresh());
    document.getElementById("conversations-refresh").addEventListener("click", () => this.refresh());
  }

  async load() {
    const answer = await api("GET", `/admin/conversations?limit=${encodeURIComponent(this.limit.value)}`);
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
    return el(
      "tr",
      { "data-chat": row.chat_id },
      el("td", {}, el("span", { class: "mono chat-id", text: row.chat_id }), el("span", { class: "sub", text: `since ${clockTime(row.created_at)}` })),
      el("td", { text: row.account }),
      el("td", { text: row.model }),
      el("td", { class: "num", text: count(row.turns) }),
      el("td", { class: "num", text: count(row.nodes) }),
      el("td", { title: clockTime(row.last_used_at), text: relative(row.last_used_at) }),
      el("td", {}, rowButton("Purge", `Purge conversation ${row.chat_id}`, () => this.purge(row.chat_id), "danger")),
    );
  }

  async purge(chatId) {
    const sure = await confirmAction(
      "Purge this conversation?",
      `The gateway forgets chat ${chatId}: its next request starts a new Qwen chat with the history folded in.`,
      "Purge",
    );
    if (!sure) return;
    try {
      await api("DELETE", `/admin/conversations/${encodeURIComponent(chatId)}`);
      toast("Conversation purged.");
      await this.load();
    } catch (error) {
      toast(error.message, true);
    }
  }
}
