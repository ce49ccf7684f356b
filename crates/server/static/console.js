// The auscult console's only script (served from /static/, no inline script anywhere).
// Worklist: shows times in the browser's time zone and polls for new cases.
// Case page: player controls, loop one cycle, half speed, original/cleaned audio, listening
// filters (Web Audio BiquadFilters), the playhead, keyboard shortcuts.
"use strict";

// The browser's offset from UTC (minutes east), so that pages that list a day's visits count
// days as the person does.
document.cookie = "tzoff=" + (-new Date().getTimezoneOffset()) + "; path=/; SameSite=Strict";

function localTimes(root) {
  for (const t of root.querySelectorAll("time[datetime]")) {
    const d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) t.textContent = d.toLocaleString(document.documentElement.lang || undefined);
  }
}

function worklist() {
  const table = document.getElementById("worklist");
  if (!table || !table.dataset.poll) return;
  const body = document.getElementById("worklist-rows");
  const notice = document.getElementById("new-cases");
  // The version of the rows shown: the server answers 204 (reading and auditing nothing) while
  // the worklist has not changed.
  let version = table.dataset.version || "";
  const poll = async () => {
    if (document.hidden) return;
    try {
      const url = new URL(table.dataset.poll, location.href);
      if (version) url.searchParams.set("since", version);
      const r = await fetch(url, { credentials: "same-origin" });
      if (r.redirected || r.status === 204 || !r.ok) return;
      const html = await r.text();
      body.innerHTML = html;
      localTimes(body);
      notice.classList.remove("hidden");
      version = r.headers.get("x-worklist-version") || "";
    } catch (e) { /* the next poll tries again */ }
  };
  poll();
  setInterval(poll, 5000);
}

const FILTERS = { wide: [20, 2000], bell: [20, 200], diaphragm: [100, 500] };

function casePage() {
  const audio = document.getElementById("player");
  if (!audio) return;
  const svg = document.getElementById("waveform");
  const playhead = document.getElementById("playhead");
  const play = document.getElementById("play");
  const loop = document.getElementById("loop");
  const half = document.getElementById("half");
  const variant = document.getElementById("variant");
  const filter = document.getElementById("filter");
  const duration = parseFloat(svg.dataset.duration) || 0;
  const cycles = (svg.dataset.cycles || "").split(";").filter(Boolean)
    .map((s) => s.split(",").map(parseFloat));
  let graph = null;
  let loopSpan = null;

  const ensureGraph = () => {
    if (graph) return graph;
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    const ctx = new Ctx();
    const source = ctx.createMediaElementSource(audio);
    const hp = ctx.createBiquadFilter();
    hp.type = "highpass";
    const lp = ctx.createBiquadFilter();
    lp.type = "lowpass";
    source.connect(hp).connect(lp).connect(ctx.destination);
    graph = { ctx, hp, lp };
    applyFilter();
    return graph;
  };
  const applyFilter = () => {
    if (!graph) return;
    const [lo, hi] = FILTERS[filter.value] || FILTERS.wide;
    graph.hp.frequency.value = lo;
    graph.lp.frequency.value = Math.min(hi, graph.ctx.sampleRate / 2 - 1);
  };
  const cycleAt = (t) => cycles.find(([a, b]) => t >= a && t < b) || cycles[0] || null;
  const toggle = () => {
    const g = ensureGraph();
    if (g && g.ctx.state === "suspended") g.ctx.resume();
    if (audio.paused) audio.play(); else audio.pause();
  };

  play.addEventListener("click", toggle);
  filter.addEventListener("change", () => { ensureGraph(); applyFilter(); });
  half.addEventListener("change", () => { audio.playbackRate = half.checked ? 0.5 : 1; });
  loop.addEventListener("change", () => {
    loopSpan = loop.checked ? cycleAt(audio.currentTime) : null;
    if (loopSpan && (audio.currentTime < loopSpan[0] || audio.currentTime >= loopSpan[1])) {
      audio.currentTime = loopSpan[0];
    }
  });
  variant.addEventListener("change", () => {
    const at = audio.currentTime;
    const wasPlaying = !audio.paused;
    audio.src = variant.dataset.base + "?variant=" + encodeURIComponent(variant.value);
    audio.addEventListener("loadedmetadata", () => {
      audio.currentTime = at;
      audio.playbackRate = half.checked ? 0.5 : 1;
      if (wasPlaying) audio.play();
    }, { once: true });
  });
  audio.addEventListener("ratechange", () => { half.checked = audio.playbackRate === 0.5; });
  const frame = () => {
    const t = audio.currentTime;
    if (loopSpan && t >= loopSpan[1]) audio.currentTime = loopSpan[0];
    if (duration > 0) {
      const x = Math.min(1000, (t / duration) * 1000);
      playhead.setAttribute("x1", x);
      playhead.setAttribute("x2", x);
    }
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  svg.addEventListener("click", (e) => {
    const box = svg.getBoundingClientRect();
    if (duration > 0 && box.width > 0) {
      audio.currentTime = ((e.clientX - box.left) / box.width) * duration;
    }
  });

  document.addEventListener("keydown", (e) => {
    const tag = (e.target && e.target.tagName) || "";
    if (["TEXTAREA", "INPUT", "SELECT"].includes(tag) && e.target.type !== "checkbox" && e.target.type !== "radio") return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const click = (id) => { const el = document.getElementById(id); if (el) el.click(); };
    switch (e.key) {
      case " ": e.preventDefault(); toggle(); break;
      case "l": case "L": click("loop"); break;
      case "h": case "H": click("half"); break;
      case "a": case "A": click("verdict-agree"); break;
      case "d": case "D": click("verdict-disagree"); break;
      case "r": case "R": click("refer"); break;
      default: return;
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  worklist();
  casePage();
});
