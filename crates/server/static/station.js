// The nurses' station (served from /static/, no inline script anywhere).
// Station page: the tenant's unresolved alerts, then live changes from the server-sent event
// stream (resumed after the last event id on every reconnect, so each change is applied once),
// sorted by severity; an alarm that beeps (Web Audio) while any alert is open and not snoozed;
// acknowledge / snooze / resolve / escalate buttons; silent sensors.
// Resident page: zoomable trend charts (uPlot) over 24 hours or 7 days.
"use strict";

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function localTime(ms) {
  if (ms === null || ms === undefined) return "";
  return new Date(ms).toLocaleString(document.documentElement.lang || undefined);
}

function residentHref(subject) {
  return "/station/residents/" + encodeURIComponent(subject);
}

// The alarm: a repeating two-tone beep while `on`. Browsers may keep audio suspended until the
// person interacts with the page; the "enable sound" button resumes it.
function makeAlarm(root) {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  let ctx = null;
  let timer = null;
  const ensure = () => {
    if (!ctx && Ctx) ctx = new Ctx();
    if (ctx && ctx.state === "suspended") ctx.resume().catch(() => {});
    root.dataset.sound = ctx ? ctx.state : "unavailable";
    return ctx;
  };
  const beep = () => {
    const c = ensure();
    if (!c || c.state !== "running") return;
    const t0 = c.currentTime;
    for (const [i, f] of [[0, 880], [1, 660]]) {
      const osc = c.createOscillator();
      const gain = c.createGain();
      osc.frequency.value = f;
      gain.gain.setValueAtTime(0.0001, t0 + i * 0.25);
      gain.gain.exponentialRampToValueAtTime(0.3, t0 + i * 0.25 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + i * 0.25 + 0.2);
      osc.connect(gain).connect(c.destination);
      osc.start(t0 + i * 0.25);
      osc.stop(t0 + i * 0.25 + 0.22);
    }
    root.dataset.beeps = String(Number(root.dataset.beeps || 0) + 1);
  };
  return {
    enable: () => { ensure(); },
    set: (on) => {
      if (on && !timer) {
        beep();
        timer = setInterval(beep, 1500);
      } else if (!on && timer) {
        clearInterval(timer);
        timer = null;
      }
    },
  };
}

function station() {
  const root = document.getElementById("station");
  if (!root) return;
  const w = (k) => root.dataset["w" + k] || "";
  const rows = document.getElementById("alert-rows");
  const noAlerts = document.getElementById("no-alerts");
  const silentList = document.getElementById("silent-sensors");
  const noSilent = document.getElementById("no-silent");
  const alarmText = document.getElementById("alarm");
  const connection = document.getElementById("connection");
  const alarm = makeAlarm(root);
  const alerts = new Map();
  const firstSeen = new Map();
  let lastId = 0;
  let events = 0;
  let duplicates = 0;
  let source = null;

  document.getElementById("enable-sound").addEventListener("click", () => alarm.enable());

  const sounding = (a) => a.state === "open" && !(a.snoozed_until && a.snoozed_until > Date.now());

  const render = () => {
    const list = [...alerts.values()].sort((a, b) =>
      (b.severity_rank - a.severity_rank) ||
      ((a.state === "open" ? 0 : 1) - (b.state === "open" ? 0 : 1)) ||
      ((b.raised_at || 0) - (a.raised_at || 0)));
    rows.replaceChildren();
    silentList.replaceChildren();
    for (const a of list) {
      const tr = el("tr", {
        class: "alert sev-" + a.severity + " " + a.state,
        "data-alert-id": a.id, "data-state": a.state, "data-severity": a.severity,
        "data-level": String(a.level), "data-seen-ms": String(firstSeen.get(a.id) || ""),
      });
      const sev = el("td");
      sev.append(el("span", { class: "badge sev " + a.severity }, a.severity_label));
      const who = el("td");
      who.append(el("a", { href: residentHref(a.subject), class: "resident" }, a.subject));
      const what = el("td", {}, a.findings);
      if (a.detail) what.append(el("div", { class: "hint" }, a.detail));
      const state = el("td", {}, a.state_label);
      if (a.level > 0) state.append(el("div", { class: "hint" }, w("Level") + " " + a.level));
      const raised = el("td", {}, localTime(a.raised_at));
      const cell = el("td");
      const act = el("div", { class: "actions" });
      cell.append(act);
      for (const name of ["acknowledge", "snooze", "resolve", "escalate"]) {
        const label = w(name.charAt(0).toUpperCase() + name.slice(1));
        const b = el("button", { type: "button", "data-action": name, class: "act " + name }, label);
        if (name === "acknowledge" && a.state !== "open") b.disabled = true;
        act.append(b);
      }
      tr.append(sev, who, what, state, raised, cell);
      rows.append(tr);
      if (a.silent_sensor) {
        const li = el("li", { class: "silent", "data-alert-id": a.id });
        li.append(el("a", { href: residentHref(a.subject) }, a.subject), " · ",
          el("span", { class: "sensor" }, a.sensor || ""), " · ", localTime(a.raised_at));
        silentList.append(li);
      }
    }
    noAlerts.classList.toggle("hidden", list.length > 0);
    noSilent.classList.toggle("hidden", silentList.children.length > 0);
    const on = list.some(sounding);
    root.dataset.alarm = on ? "on" : "off";
    alarmText.textContent = on ? alarmText.dataset.on : alarmText.dataset.off;
    alarmText.classList.toggle("on", on);
    alarm.set(on);
  };

  const apply = (a) => {
    if (!a) return;
    if (!firstSeen.has(a.id)) firstSeen.set(a.id, Date.now());
    if (a.state === "resolved") alerts.delete(a.id);
    else alerts.set(a.id, a);
  };

  const setConnection = (live) => {
    root.dataset.connection = live ? "live" : "reconnecting";
    connection.textContent = live ? w("Live") : w("Reconnecting");
    connection.classList.toggle("ok", live);
  };

  const open = () => {
    if (source) source.close();
    // After the last event applied: the server sends each later event once.
    source = new EventSource(root.dataset.events + "?after=" + lastId);
    source.addEventListener("open", () => setConnection(true));
    source.addEventListener("alert", (e) => {
      const id = Number(e.lastEventId);
      events += 1;
      root.dataset.received = String(events);
      if (!(id > lastId)) {
        duplicates += 1;
        root.dataset.duplicates = String(duplicates);
        return;
      }
      lastId = id;
      root.dataset.lastEventId = String(lastId);
      const ev = JSON.parse(e.data);
      apply(ev.alert);
      render();
    });
    source.addEventListener("error", () => {
      setConnection(false);
      if (source.readyState === EventSource.CLOSED) {
        // Refused (not a stream): signed out, or the server is away. Try again shortly.
        setTimeout(async () => {
          try {
            const r = await fetch("/station", { credentials: "same-origin" });
            if (r.redirected) { location.href = r.url; return; }
          } catch (err) { /* the server is away: the next attempt tells */ }
          open();
        }, 2000);
      }
    });
  };

  rows.addEventListener("click", async (e) => {
    const b = e.target.closest("button[data-action]");
    if (!b) return;
    const tr = b.closest("tr[data-alert-id]");
    b.disabled = true;
    try {
      const body = new URLSearchParams({ csrf: root.dataset.csrf });
      const r = await fetch("/station/alerts/" + encodeURIComponent(tr.dataset.alertId) + "/" + b.dataset.action,
        { method: "POST", body, credentials: "same-origin" });
      root.dataset.lastAction = b.dataset.action + ":" + r.status;
      // The change itself arrives on the event stream, like every other station's.
    } catch (err) {
      root.dataset.lastAction = b.dataset.action + ":failed";
    } finally {
      b.disabled = false;
    }
  });

  const start = async () => {
    const r = await fetch(root.dataset.alerts, { credentials: "same-origin" });
    if (r.redirected) { location.href = r.url; return; }
    const now = await r.json();
    lastId = now.last_event_id;
    root.dataset.lastEventId = String(lastId);
    for (const a of now.alerts) apply(a);
    render();
    open();
  };
  // For people and tests alike: drop the connection and resume.
  window.auscultStation = { reconnect: open, close: () => source && source.close() };
  start().catch(() => setTimeout(start, 2000));
}

function trends() {
  const box = document.getElementById("trends");
  if (!box || !window.uPlot) return;
  let plots = [];
  const colours = { heart_rate: "#b3261e", respiratory_rate: "#0b5cad", spo2: "#1e7a3c",
    temperature: "#a15c00", blood_pressure: "#6b3fa0", news2: "#1b2430" };
  const width = () => Math.max(280, box.clientWidth - 4);
  const load = async (range) => {
    for (const b of document.querySelectorAll("#trend-ranges button")) {
      b.classList.toggle("selected", b.dataset.range === range);
    }
    const r = await fetch(box.dataset.trend + "?range=" + range, { credentials: "same-origin" });
    if (r.redirected) { location.href = r.url; return; }
    if (!r.ok) return;
    const data = await r.json();
    for (const p of plots) p.destroy();
    plots = [];
    box.replaceChildren();
    for (const s of data.series) {
      const chart = el("div", { class: "chart", "data-key": s.key, "data-points": String(s.t.length) });
      chart.append(el("h3", {}, s.label));
      box.append(chart);
      if (s.t.length === 0) {
        chart.append(el("p", { class: "hint" }, box.dataset.noData));
        continue;
      }
      const colour = colours[s.key] || "#1b2430";
      const series = [{}, { label: s.label, stroke: colour, width: 2 }];
      const values = [s.t, s.mean];
      if (s.min.length) {
        series.push({ label: "min", stroke: colour + "66", dash: [4, 4] },
          { label: "max", stroke: colour + "66", dash: [4, 4] });
        values.push(s.min, s.max);
      }
      const plot = new uPlot({
        width: width(), height: 170,
        scales: { x: { time: true, min: data.from, max: data.until } },
        cursor: { drag: { x: true, y: false } },
        legend: { show: true },
        series,
      }, values, chart);
      plots.push(plot);
    }
    box.dataset.loaded = range;
  };
  for (const b of document.querySelectorAll("#trend-ranges button")) {
    b.addEventListener("click", () => load(b.dataset.range));
  }
  window.addEventListener("resize", () => {
    for (const p of plots) p.setSize({ width: width(), height: 170 });
  });
  load(box.dataset.range || "24h");
}

document.addEventListener("DOMContentLoaded", () => {
  station();
  trends();
});
