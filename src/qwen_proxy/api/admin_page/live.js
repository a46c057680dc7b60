// The Live screen: requests per second, time to first token, open streams and errors of the
// last 15 minutes, polled from /admin/stats, with the chart.

import { api } from "./api.js";
import { drawChart } from "./chart.js";
import { count, duration, el, fillTable } from "./ui.js";

export class LiveScreen {
  constructor() {
    this.canvas = document.getElementById("live-chart");
    this.errorsBody = document.querySelector("#errors-table tbody");
    this.errorsEmpty = document.getElementById("errors-empty");
    this.last = null;
    window.addEventListener("resize", () => this.redraw());
  }

  async load() {
    const stats = await api("GET", "/admin/stats");
    this.last = stats;
    const set = (id, text) => {
      document.getElementById(id).textContent = text;
    };
    set("stat-rps", stats.requests_per_second.toFixed(2));
    set("stat-p50", duration(stats.ttft_p50));
    set("stat-p95", duration(stats.ttft_p95));
    set("stat-open", count(stats.open_streams));
    set("stat-requests", count(stats.requests));
    set("live-updated", `Updated ${new Date().toLocaleTimeString()}`);
    const rows = Object.entries(stats.errors).map(([code, n]) =>
      el("tr", {}, el("td", {}, el("code", { text: code })), el("td", { class: "num", text: count(n) })),
    );
    fillTable(this.errorsBody, rows, this.errorsEmpty);
    this.errorsBody.closest(".table-wrap").hidden = rows.length === 0;
    this.redraw();
  }

  redraw() {
    if (!this.last) return;
    const series = this.last.series;
    drawChart(this.canvas, series);
    const peak = Math.max(0, ...series.requests) / series.step;
    const errors = series.errors.reduce((a, b) => a + b, 0);
    document.getElementById("chart-summary").textContent =
      `Requests per second over the last 15 minutes, peak ${peak.toFixed(2)}; ${errors} error(s).`;
  }
}
