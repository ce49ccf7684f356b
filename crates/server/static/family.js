// The families' page (served from /static/, no inline script anywhere): the resident's status
// in plain words, kept current from the resident's alert event stream (resumed after the last
// event id on every reconnect, so each event is applied once); the history of alerts and what
// the nurses did; and a browser notification (Notification API, while the page is open) when
// an alert is raised and when it is resolved, once the person has allowed it with the
// "Notify me" button (browsers ask only after a gesture). The charts are station.js's.
"use strict";

(function () {
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  const lang = () => document.documentElement.lang || undefined;
  const hourMinute = (d) => d.toLocaleTimeString(lang(), { hour: "2-digit", minute: "2-digit" });

  // Times in the browser's time zone: a status's time as hours and minutes, others in full.
  function localTimes(root) {
    for (const t of root.querySelectorAll("time[datetime]")) {
      const d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) continue;
      t.textContent = t.hasAttribute("data-hm") ? hourMinute(d) : d.toLocaleString(lang());
    }
  }

  function family() {
    const root = document.getElementById("family");
    if (!root) return;
    const w = (k) => root.dataset["w" + k] || "";
    const status = document.getElementById("status");
    const statusText = document.getElementById("status-text");
    const history = document.getElementById("history");
    const noHistory = document.getElementById("no-history");
    const button = document.getElementById("notify-me");
    const notifyState = document.getElementById("notify-state");
    let lastId = Number(root.dataset.after || 0);
    let source = null;
    localTimes(root);

    // Notifications: the API is read at each use (never cached), so whatever the page's
    // Notification is when an alert comes is what is called.
    const permission = () => (window.Notification ? window.Notification.permission : "unsupported");
    const showPermission = () => {
      const p = permission();
      root.dataset.notify = p;
      button.classList.toggle("hidden", p !== "default");
      notifyState.textContent = p === "granted" ? w("On") : p === "denied" ? w("Blocked") : "";
    };
    button.addEventListener("click", async () => {
      if (!window.Notification) return;
      try { await window.Notification.requestPermission(); } catch (err) { /* stays as it was */ }
      showPermission();
    });
    showPermission();
    const notify = (title, body, tag) => {
      if (permission() !== "granted") return;
      try {
        new window.Notification(title, { body, tag, lang: lang() });
        root.dataset.notified = String(Number(root.dataset.notified || 0) + 1);
      } catch (err) { /* a browser that refuses page notifications: the page still shows it */ }
    };

    const refreshStatus = async () => {
      const r = await fetch(root.dataset.status, { credentials: "same-origin" });
      if (r.redirected) { location.href = r.url; return; }
      if (!r.ok) return;
      const s = await r.json();
      status.className = "family-status " + s.status;
      status.dataset.status = s.status;
      statusText.textContent = s.text;
      const old = document.getElementById("status-since");
      if (old) old.remove();
      if (s.since !== null && s.since !== undefined) {
        const t = el("time", { id: "status-since", "data-hm": "", datetime: new Date(s.since).toISOString() },
          hourMinute(new Date(s.since)));
        status.append(" ", t);
      }
    };

    const addHistory = (ev) => {
      if (!ev.what) return;
      const li = el("li", { class: ev.change, "data-change": ev.change, "data-alert-id": ev.alert_id });
      const at = ev.at ? new Date(ev.at) : new Date();
      li.append(el("time", { datetime: at.toISOString() }, at.toLocaleString(lang())), " ",
        el("strong", {}, ev.what));
      if (ev.about) li.append(" · " + ev.about);
      history.prepend(li);
      noHistory.classList.add("hidden");
    };

    const setConnection = (state) => { root.dataset.connection = state; };

    const open = () => {
      if (source) source.close();
      source = new EventSource(root.dataset.events + "?after=" + lastId);
      source.addEventListener("open", () => setConnection("live"));
      source.addEventListener("alert", async (e) => {
        const id = Number(e.lastEventId);
        if (!(id > lastId)) return;
        lastId = id;
        root.dataset.lastEventId = String(lastId);
        const ev = JSON.parse(e.data);
        addHistory(ev);
        if (ev.change === "raised") notify(w("Raised"), ev.about, "alert-" + ev.alert_id);
        if (ev.change === "resolved") notify(w("Resolved"), ev.about, "alert-" + ev.alert_id);
        try { await refreshStatus(); } catch (err) { /* the next event tries again */ }
        root.dataset.applied = String(lastId);
      });
      source.addEventListener("error", () => {
        setConnection("reconnecting");
        if (source.readyState === EventSource.CLOSED) {
          // Refused: signed out, access withdrawn, or the server is away.
          setTimeout(async () => {
            try {
              const r = await fetch(root.dataset.status, { credentials: "same-origin" });
              if (r.redirected) { location.href = r.url; return; }
            } catch (err) { /* the server is away: the next attempt tells */ }
            open();
          }, 2000);
        }
      });
    };
    window.auscultFamily = { reconnect: open, close: () => source && source.close() };
    open();
  }

  document.addEventListener("DOMContentLoaded", family);
})();
