// A bar chart of the last 15 minutes on a canvas: requests and errors per second per bucket.
// Colours come from the stylesheet's custom properties, so it follows light and dark mode.

/** The smallest "round" number (1, 2 or 5 times a power of ten) at or above `value`. */
export function roundUp(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) {
    if (value <= step * power) return step * power;
  }
  return 10 * power;
}

function shortNumber(value) {
  return value >= 10 ? String(Math.round(value)) : String(Math.round(value * 100) / 100);
}

/** Draw `series` ({step, requests[], errors[]}, counts per bucket) on `canvas`. */
export function drawChart(canvas, series) {
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (!width || !height) return; // not shown: drawn when it is
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);

  const style = getComputedStyle(document.documentElement);
  const colour = (name) => style.getPropertyValue(name).trim();
  const requests = series.requests.map((n) => n / series.step);
  const errors = series.errors.map((n) => n / series.step);
  const top = roundUp(Math.max(0.2, ...requests));

  const left = 44;
  const right = 8;
  const above = 8;
  const below = 22;
  const plotWidth = width - left - right;
  const plotHeight = height - above - below;
  const y = (value) => above + plotHeight - (value / top) * plotHeight;

  ctx.font = "12px system-ui, sans-serif";
  ctx.textBaseline = "middle";
  ctx.strokeStyle = colour("--chart-grid");
  ctx.fillStyle = colour("--chart-text");
  ctx.lineWidth = 1;
  for (const fraction of [0, 0.5, 1]) {
    const lineY = Math.round(y(top * fraction)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(left, lineY);
    ctx.lineTo(width - right, lineY);
    ctx.stroke();
    ctx.textAlign = "right";
    ctx.fillText(shortNumber(top * fraction), left - 6, lineY);
  }

  const slot = plotWidth / requests.length;
  const bar = Math.max(1, slot - (slot > 3 ? 1 : 0));
  const paint = (values, name) => {
    ctx.fillStyle = colour(name);
    values.forEach((value, index) => {
      if (value <= 0) return;
      const barTop = y(value);
      ctx.fillRect(left + index * slot, barTop, bar, Math.max(1, above + plotHeight - barTop));
    });
  };
  paint(requests, "--chart-requests");
  paint(errors, "--chart-errors");

  ctx.fillStyle = colour("--chart-text");
  ctx.textBaseline = "alphabetic";
  const minutes = (requests.length * series.step) / 60;
  for (const ago of [minutes, (minutes * 2) / 3, minutes / 3, 0]) {
    const x = left + plotWidth - (ago * 60 / series.step) * slot;
    ctx.textAlign = ago === minutes ? "left" : ago === 0 ? "right" : "center";
    ctx.fillText(ago === 0 ? "now" : `−${Math.round(ago)} min`, x, height - 6);
  }
}
