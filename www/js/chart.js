// A small time-series line chart on <canvas>: a few series sharing one y axis, the last
// `windowMs` of samples, gridlines at round values, a legend with each series' latest value.
// Redraws on resize and on each push. No dependencies.
//
//   const c = new LineChart([{label: 'Publish', color: '#3b5bdb'}], {format: rate});
//   panel.append(c.el);
//   c.push(Date.now(), [12.5]);

import { h, compact } from './ui.js';

function niceStep(max, ticks) {
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const n = raw / mag;
  return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * mag;
}

export class LineChart {
  constructor(series, { format = String, windowMs = 10 * 60 * 1000, integer = false } = {}) {
    this.series = series;
    this.format = format;
    this.windowMs = windowMs;
    this.integer = integer;
    this.points = []; // [{t, v: [..]}]
    this.canvas = h('canvas', { role: 'img', 'aria-label': series.map((s) => s.label).join(', ') });
    this.values = series.map(() => h('b', null, '–'));
    this.el = h('div', null,
      h('div', { class: 'chart-box' }, this.canvas),
      h('div', { class: 'legend' }, series.map((s, i) => {
        const swatch = h('i');
        swatch.style.background = s.color;
        return h('span', null, swatch, s.label, this.values[i]);
      })));
    this.resize = new ResizeObserver(() => this.draw());
    this.resize.observe(this.canvas);
  }

  // Replaces all samples (e.g. history kept while the page was not shown).
  set(points) {
    this.points = points.slice();
    this.update();
  }

  push(t, values) {
    this.points.push({ t, v: values });
    const cutoff = t - this.windowMs;
    while (this.points.length > 2 && this.points[0].t < cutoff) this.points.shift();
    this.update();
  }

  update() {
    const last = this.points[this.points.length - 1];
    this.values.forEach((el, i) => { el.textContent = last ? this.format(last.v[i]) : '–'; });
    this.draw();
  }

  destroy() {
    this.resize.disconnect();
  }

  draw() {
    const c = this.canvas;
    const w = c.clientWidth;
    const ht = c.clientHeight;
    if (!w || !ht) return;
    const dpr = window.devicePixelRatio || 1;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(ht * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(ht * dpr);
    }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, ht);
    g.font = '11px system-ui, sans-serif';

    const pts = this.points;
    const left = 48;
    const right = 10;
    const top = 8;
    const bottom = 22;
    const pw = w - left - right;
    const ph = ht - top - bottom;

    let max = 0;
    for (const p of pts) for (const v of p.v) max = Math.max(max, Number(v) || 0);
    if (max <= 0) max = this.integer ? 5 : 1;
    const step = Math.max(niceStep(max, 4), this.integer ? 1 : 0);
    const yMax = Math.ceil(max / step) * step;

    // Grid and y labels.
    g.strokeStyle = '#e9ecf3';
    g.fillStyle = '#8a92a6';
    g.lineWidth = 1;
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (let v = 0; v <= yMax + step / 2; v += step) {
      const y = Math.round(top + ph - (v / yMax) * ph) + 0.5;
      g.beginPath();
      g.moveTo(left, y);
      g.lineTo(left + pw, y);
      g.stroke();
      g.fillText(compact(v), left - 8, y);
    }

    // The x axis spans the samples there are: at least a minute, at most the window.
    const now = pts.length ? pts[pts.length - 1].t : Date.now();
    const span = Math.min(this.windowMs, Math.max(60 * 1000, pts.length ? now - pts[0].t : 0));
    const t0 = now - span;
    const x = (t) => left + ((t - t0) / span) * pw;
    const y = (v) => top + ph - ((Number(v) || 0) / yMax) * ph;

    // Time labels aligned to the clock: every 15 s, 30 s, 1 or 2 minutes as the span grows.
    g.textAlign = 'center';
    g.textBaseline = 'top';
    const tick = span <= 90 * 1000 ? 15 * 1000 : span <= 3 * 60 * 1000 ? 30 * 1000 : span <= 6 * 60 * 1000 ? 60 * 1000 : 2 * 60 * 1000;
    const two = (n) => String(n).padStart(2, '0');
    for (let t = Math.ceil(t0 / tick) * tick; t <= now; t += tick) {
      const d = new Date(t);
      let label = `${two(d.getHours())}:${two(d.getMinutes())}`;
      if (tick < 60 * 1000) label += `:${two(d.getSeconds())}`;
      if (x(t) - left > 20) g.fillText(label, x(t), top + ph + 6);
    }

    if (pts.length < 2) {
      g.textAlign = 'center';
      g.textBaseline = 'middle';
      g.fillStyle = '#8a92a6';
      g.font = '13px system-ui, sans-serif';
      g.fillText('Collecting samples…', left + pw / 2, top + ph / 2);
      return;
    }

    // Series: a translucent area, then the line; the first series is drawn last, on top.
    this.series.map((s, i) => [s, i]).reverse().forEach(([s, i]) => {
      g.beginPath();
      pts.forEach((p, j) => (j ? g.lineTo(x(p.t), y(p.v[i])) : g.moveTo(x(p.t), y(p.v[i]))));
      g.lineWidth = 2;
      g.lineJoin = 'round';
      g.strokeStyle = s.color;
      g.stroke();
      g.lineTo(x(pts[pts.length - 1].t), top + ph);
      g.lineTo(x(pts[0].t), top + ph);
      g.closePath();
      g.globalAlpha = 0.08;
      g.fillStyle = s.color;
      g.fill();
      g.globalAlpha = 1;
    });
  }
}
