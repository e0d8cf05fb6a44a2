// The learned model section of the keyword rules page: drafts beside the model in force, the precision-coverage
// curve, replay, publish at a threshold, compare, roll back.
"use strict";

(() => {
  const { t, el, clear, api, flash } = Console;
  const CATEGORIES = ["inquiry", "complaint", "suggestion", "other"];
  const BASE = "/console/api/classifier";
  const $ = (id) => document.getElementById(id);
  const pct = (x) => (x === null || x === undefined ? "-" : `${(100 * x).toFixed(1)}%`);
  const bucket = (b) => (b === "unsure" ? t("keywords.unsure") : t("category." + b));
  const fail = (res) => flash(Console.errorText(res.status, res.data));
  let chosen = null;

  const says = (at, n) => `${t("keywords.models.coverage")} ${pct(at.coverage)} · `
    + `${t("keywords.models.precision")} ${pct(at.precision)} · ${t("keywords.models.held_back")} ${n}`;

  async function showAt() {
    const value = $("model-threshold").value;
    const res = await api("GET", `${BASE}/models/${chosen.number}?threshold=${encodeURIComponent(value)}`);
    if (!res.ok) { fail(res); return; }
    $("model-at").textContent = says(res.data.at, chosen.draft.n);
  }

  function figuresRow(label, f) {
    if (!f) return el("tr", {}, el("th", { text: label }), el("td", { text: "-" }));
    return el("tr", {}, el("th", { text: label }), el("td", { text: f.n }), el("td", { text: pct(f.accuracy) }),
      el("td", { text: f.macro_f1.toFixed(3) }), ...CATEGORIES.map((c) => el("td", { text: f.f1[c].toFixed(3) })),
      el("td", { text: f.threshold }), el("td", { text: pct(f.coverage) }), el("td", { text: pct(f.precision) }));
  }

  function show(model) {
    chosen = model;
    $("model-detail").hidden = false;
    $("model-replay-result").hidden = true;
    $("model-title").textContent = `${t("keywords.models.number")} ${model.number}`
      + (model.threshold_chosen_on === "fallback" ? ` · ${t("keywords.models.chosen_fallback")}` : "");
    const head = $("model-figures-head");
    clear(head);
    head.append(el("th", {}), el("th", { text: t("keywords.models.held_back") }), el("th", { text: t("keywords.models.accuracy") }),
      el("th", { text: t("keywords.models.macro_f1") }), ...CATEGORIES.map((c) => el("th", { text: `F1 ${t("category." + c)}` })),
      el("th", { text: t("keywords.models.threshold") }), el("th", { text: t("keywords.models.coverage") }),
      el("th", { text: t("keywords.models.precision") }));
    const body = $("model-figures");
    clear(body);
    body.append(figuresRow(t("keywords.models.draft_col"), model.draft), figuresRow(t("keywords.models.in_force_col"), model.in_force_then));
    const curve = $("model-curve");
    clear(curve);
    const points = model.draft.curve.filter((p) => Math.round(p.threshold * 100) % 5 === 0);
    curve.append(el("tr", {}, el("th", { text: t("keywords.models.threshold") }), ...points.map((p) => el("td", { text: p.threshold }))));
    curve.append(el("tr", {}, el("th", { text: t("keywords.models.coverage") }), ...points.map((p) => el("td", { text: pct(p.coverage) }))));
    curve.append(el("tr", {}, el("th", { text: t("keywords.models.precision") }), ...points.map((p) => el("td", { text: pct(p.precision) }))));
    $("model-threshold").value = model.threshold;
    $("model-at").textContent = says({ coverage: model.draft.coverage, precision: model.draft.precision }, model.draft.n);
  }

  async function replay() {
    const res = await api("POST", `${BASE}/models/${chosen.number}/replay`, { threshold: Number($("model-threshold").value) });
    if (!res.ok) { fail(res); return; }
    showChanges(res.data);
  }

  async function compare() {
    const listed = await api("GET", `${BASE}/models`);
    if (!listed.ok) { fail(listed); return; }
    const res = await api("GET", `${BASE}/compare?a=${listed.data.in_force.number}&b=${chosen.number}`);
    if (!res.ok) { fail(res); return; }
    showChanges(res.data);
  }

  function showChanges(r) {
    $("model-replay-result").hidden = false;
    const counts = $("model-replay-counts");
    clear(counts);
    counts.append(el("tr", {}, el("th", {}), ...Object.keys(r.before).map((b) => el("th", { text: bucket(b) }))));
    counts.append(el("tr", {}, el("th", { text: t("keywords.before") }), ...Object.values(r.before).map((n) => el("td", { text: n }))));
    counts.append(el("tr", {}, el("th", { text: `${t("keywords.models.number")} ${chosen.number}` }), ...Object.values(r.after).map((n) => el("td", { text: n }))));
    const changed = $("model-replay-changed");
    clear(changed);
    for (const c of r.changed) {
      changed.append(el("tr", {}, el("td", { text: c.text }), el("td", { class: "kw-removed", text: bucket(c.before.bucket) }),
        el("td", { text: "→" }), el("td", { class: "kw-added", text: bucket(c.after.bucket) }), el("td", { class: "kw-muted", text: c.after.confidence })));
    }
  }

  async function publish() {
    if (!window.confirm(t("keywords.models.publish_confirm"))) return;
    const res = await api("POST", `${BASE}/models/${chosen.number}/publish`, {
      threshold: Number($("model-threshold").value), note: $("model-note").value.trim(),
    });
    if (!res.ok) { fail(res); return; }
    flash(`${t("keywords.models.published")}: ${chosen.number} · ${says(res.data.at, chosen.draft.n)}`, "ok");
    load();
  }

  async function rollback(number) {
    if (!window.confirm(t("keywords.models.rollback_confirm"))) return;
    const res = await api("POST", `${BASE}/models/${number}/rollback`);
    if (!res.ok) { fail(res); return; }
    flash(t("keywords.models.published"), "ok");
    load();
  }

  async function load() {
    const res = await api("GET", `${BASE}/models`);
    if (!res.ok) return;
    const d = res.data;
    const live = d.in_force.number ? `${t("keywords.models.number")} ${d.in_force.number}`
      : (d.shipped.version ? t("keywords.models.shipped") : t("keywords.models.rules_only"));
    $("models-status").textContent = `${t("keywords.models.in_force")}: ${live}`
      + (d.in_force.live_threshold ? ` · ${t("keywords.models.threshold")} ${d.in_force.live_threshold}` : "");
    $("models-labels").textContent = `${t("keywords.models.labels")}: `
      + Object.entries(d.labels).map(([k, n]) => `${t("keywords.models.kinds." + k)} ${n}`).join(" · ");
    const body = $("models");
    clear(body);
    if (d.in_force.number) {
      body.append(el("tr", {}, el("td", { text: t("keywords.models.shipped") }), el("td", {}),
        el("td", {}, el("button", { type: "button", text: t("keywords.models.rollback_shipped"), onclick: () => rollback(0) }))));
    }
    for (const m of d.models) {
      const actions = el("td", {}, el("button", { type: "button", text: t("keywords.models.details"), onclick: () => show(m) }));
      if (m.published_at && !m.in_force) actions.append(" ", el("button", { type: "button", text: t("keywords.models.rollback"), onclick: () => rollback(m.number) }));
      body.append(el("tr", { dataset: { number: m.number } },
        el("td", { text: `${t("keywords.models.number")} ${m.number}${m.in_force ? " · " + t("keywords.in_force") : ""}` }),
        el("td", { text: m.created_at.slice(0, 16).replace("T", " ") }),
        el("td", { text: `${t("keywords.models.accuracy")} ${pct(m.draft.accuracy)} (${pct(m.in_force_then.accuracy)}) · `
          + `${t("keywords.models.threshold")} ${m.threshold} · ${t("keywords.models.coverage")} ${pct(m.draft.coverage)} · `
          + `${t("keywords.models.precision")} ${pct(m.draft.precision)}` }),
        el("td", { text: m.note }), actions));
    }
    if (!d.models.length) body.append(el("tr", {}, el("td", { class: "kw-muted", text: t("keywords.models.none") })));
  }

  // Started by keywords.js once the console has booted (texts and CSRF token loaded).
  async function start() {
    $("model-threshold").addEventListener("change", showAt);
    $("model-replay").addEventListener("click", replay);
    $("model-compare").addEventListener("click", compare);
    $("model-publish").addEventListener("click", publish);
    $("model-form").addEventListener("submit", (e) => e.preventDefault());
    await load();
  }

  window.ModelsSection = { start };
})();
