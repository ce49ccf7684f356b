// The residents' questionnaire: one question per screen, answers saved as they go.
// Without this script every question shows on one page and the form still submits.
"use strict";
(() => {
  const form = document.getElementById("q-form");
  if (!form) return;
  const questions = Array.from(form.querySelectorAll("fieldset.question"));
  const submit = document.getElementById("q-submit");
  const state = document.getElementById("save-state");
  // Start at the first question that needs a look, else the first unanswered one.
  const answered = (q) =>
    Array.from(q.querySelectorAll("input, textarea")).some((el) =>
      el.type === "radio" ? el.checked : el.value.trim() !== "");
  let at = questions.findIndex((q) => q.classList.contains("invalid"));
  if (at < 0) at = questions.findIndex((q) => !answered(q));
  if (at < 0) at = questions.length - 1;
  const show = (i) => {
    at = Math.max(0, Math.min(questions.length - 1, i));
    questions.forEach((q, k) => { q.hidden = k !== at; });
    for (const q of questions) {
      q.querySelector(".prev").hidden = at === 0;
      q.querySelector(".next").hidden = at === questions.length - 1;
    }
    submit.hidden = at !== questions.length - 1;
    const first = questions[at].querySelector("input, textarea");
    if (first && document.activeElement !== document.body) first.focus();
  };
  document.body.classList.add("stepwise");
  for (const q of questions) {
    q.querySelector(".prev").addEventListener("click", () => show(at - 1));
    q.querySelector(".next").addEventListener("click", () => { save(); show(at + 1); });
  }
  // Saving: after every change, at most one request in flight, the newest answers win.
  let pending = false, busy = false;
  const save = async () => {
    if (!form.dataset.draft) return; // a staff preview saves nothing
    if (busy) { pending = true; return; }
    busy = true;
    try {
      const body = new URLSearchParams(new FormData(form));
      const r = await fetch(form.dataset.draft, { method: "POST", body });
      state.textContent = r.ok ? state.dataset.saved : state.dataset.notSaved;
      state.dataset.state = r.ok ? "saved" : "failed";
    } catch (e) {
      state.textContent = state.dataset.notSaved;
      state.dataset.state = "failed";
    } finally {
      busy = false;
      if (pending) { pending = false; save(); }
    }
  };
  form.addEventListener("change", save);
  let typing;
  form.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(save, 600); });
  for (const t of document.querySelectorAll("time[datetime]")) {
    const d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) t.textContent = d.toLocaleString(document.documentElement.lang);
  }
  show(at);
})();
