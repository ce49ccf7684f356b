// Live auscultation page (/live/{id}): streams the session's frames with fetch, plays the PCG
// with Web Audio (scheduled AudioBuffers, kept under a second behind), draws the last seconds
// scrolling on a canvas with the engine's S1/S2 marks, and sends requests to the device.
// Frames: kind byte, u32 LE payload length, payload (1 audio: u64 LE offset + f32 LE samples;
// 2 marks: JSON; 3 ended). No inline script anywhere (CSP).
"use strict";

(function () {
  const root = document.getElementById("live");
  if (!root) return;
  const rate = parseInt(root.dataset.rate, 10) || 4000;
  const SHOW_S = 5;
  const N = rate * SHOW_S;
  const ring = new Float32Array(N);
  const canvas = document.getElementById("live-wave");
  const g = canvas.getContext("2d");
  const listen = document.getElementById("listen");
  const status = document.getElementById("live-status");
  const hr = document.getElementById("live-hr");
  // What the page received, for whoever measures it: [offset of a frame's first sample,
  // Date.now() at receipt]; the latest marks; whether the session ended.
  const live = { receipts: [], marks: null, markFrames: 0, ended: false };
  window.auscultLive = live;
  let end = 0; // offset one past the newest sample held
  let audio = null;
  let next = 0;
  let peak = 1e-3;

  function keep(offset, samples) {
    if (offset > end) {
      for (let o = end; o < offset && o < end + N; o++) ring[o % N] = 0;
    }
    for (let i = 0; i < samples.length; i++) ring[(offset + i) % N] = samples[i];
    end = Math.max(end, offset + samples.length);
  }

  function play(samples) {
    if (!audio) return;
    let m = 0;
    for (const v of samples) m = Math.max(m, Math.abs(v));
    peak = Math.max(peak * 0.98, m);
    // Web Audio buffers run at 8 kHz and above in every browser (Chromium takes 3 kHz, Firefox
    // not below 8 kHz): lower rates are repeated up.
    const k = Math.max(1, Math.ceil(8000 / rate));
    const buf = audio.createBuffer(1, samples.length * k, rate * k);
    const ch = buf.getChannelData(0);
    const gain = 0.6 / peak;
    for (let i = 0; i < ch.length; i++) ch[i] = samples[Math.floor(i / k)] * gain;
    const now = audio.currentTime;
    // Keep the delay bounded: never schedule more than ~0.6 s ahead of now.
    if (next < now + 0.05 || next > now + 0.6) next = now + 0.1;
    const src = audio.createBufferSource();
    src.buffer = buf;
    src.connect(audio.destination);
    src.start(next);
    next += buf.duration;
  }

  function draw() {
    const w = canvas.width, h = canvas.height;
    g.clearRect(0, 0, w, h);
    const from = end - N;
    const x = (o) => ((o - from) / N) * w;
    const styles = getComputedStyle(document.documentElement);
    if (live.marks) {
      for (const [kind, color] of [["s1", styles.getPropertyValue("--s1")], ["s2", styles.getPropertyValue("--s2")]]) {
        g.fillStyle = color || "rgba(0,0,0,.2)";
        for (const [a, b] of live.marks[kind] || []) {
          if (b < from || a > end) continue;
          g.fillRect(x(a), 0, Math.max(2, x(b) - x(a)), h);
          g.fillStyle = "#5a6878";
          g.fillText(kind.toUpperCase(), x(a) + 2, 12);
          g.fillStyle = color || "rgba(0,0,0,.2)";
        }
      }
    }
    g.strokeStyle = "#1b2430";
    g.beginPath();
    const per = N / w;
    for (let px = 0; px < w; px++) {
      let lo = 0, hi = 0;
      const a = Math.floor(from + px * per);
      for (let o = a; o < a + per; o++) {
        if (o < 0 || o < end - N) continue;
        const v = ring[o % N];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      g.moveTo(px + 0.5, h / 2 - (hi / peak) * (h / 2.2));
      g.lineTo(px + 0.5, h / 2 - (lo / peak) * (h / 2.2) + 1);
    }
    g.stroke();
    if (!live.ended) requestAnimationFrame(draw);
  }

  function frame(kind, payload) {
    if (kind === 1 && payload.length >= 8) {
      const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
      const offset = Number(dv.getBigUint64(0, true));
      live.receipts.push([offset, Date.now()]);
      if (live.receipts.length > 5000) live.receipts.shift();
      const samples = new Float32Array(payload.slice(8).buffer);
      keep(offset, samples);
      // A browser that cannot play a frame still shows it: the waveform and marks go on.
      try { play(samples); } catch (e) { live.playError = String(e); }
    } else if (kind === 2) {
      live.marks = JSON.parse(new TextDecoder().decode(payload));
      live.markFrames++;
      if (live.marks.hr) hr.textContent = hr.dataset.label + ": " + Math.round(live.marks.hr) + " bpm";
    } else if (kind === 3) {
      ended();
    }
  }

  function ended() {
    if (live.ended) return;
    live.ended = true;
    status.textContent = "";
    document.getElementById("live-ended").classList.remove("hidden");
  }

  async function start() {
    listen.disabled = true;
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (Ctx) {
      audio = new Ctx();
      if (audio.state === "suspended") audio.resume();
    }
    status.textContent = status.dataset.listening;
    requestAnimationFrame(draw);
    try {
      const r = await fetch(root.dataset.stream, { credentials: "same-origin", cache: "no-store" });
      if (!r.ok || !r.body) { ended(); return; }
      const reader = r.body.getReader();
      let buf = new Uint8Array(0);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const joined = new Uint8Array(buf.length + value.length);
        joined.set(buf);
        joined.set(value, buf.length);
        buf = joined;
        while (buf.length >= 5) {
          const len = new DataView(buf.buffer, buf.byteOffset + 1, 4).getUint32(0, true);
          if (buf.length < 5 + len) break;
          frame(buf[0], buf.subarray(5, 5 + len));
          buf = buf.subarray(5 + len);
        }
      }
    } catch (e) { /* the connection broke: the session is over for this page */ }
    ended();
  }
  listen.addEventListener("click", start);

  const said = document.getElementById("instruction-status");
  for (const form of document.querySelectorAll("form.instruct")) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        const r = await fetch(form.action, {
          method: "POST", credentials: "same-origin", redirect: "manual",
          body: new URLSearchParams(new FormData(form)),
        });
        const ok = r.type === "opaqueredirect" || r.ok;
        said.textContent = ok ? said.dataset.sent : said.dataset.failed;
        if (ok) said.dataset.count = String((parseInt(said.dataset.count || "0", 10)) + 1);
      } catch (e) {
        said.textContent = said.dataset.failed;
      }
    });
  }
})();
