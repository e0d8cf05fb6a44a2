// The keyword rules page (admins): try a sentence, edit the draft, replay, publish, versions, learning, YAML.
"use strict";

(() => {
  const { t, el, clear, api, flash } = Console;
  const CATEGORIES = ["inquiry", "complaint", "suggestion", "other"];
  const MODES = ["auto", "substring", "word", "whole"];
  const LANGUAGES = ["zh", "en", "mixed"];
  const BASE = "/console/api/keywords";
  const $ = (id) => document.getElementById(id);
  let offset = 0;

  const fail = (res) => flash(res.data && res.data.errors ? res.data.errors.join("\n") : Console.errorText(res.status, res.data));
  const options = (select, values, label, empty) => {
    clear(select);
    if (empty) select.append(el("option", { value: "" }, empty));
    for (const v of values) select.append(el("option", { value: v }, label(v)));
  };
  const category = (c) => t("category." + c);
  const bucket = (b) => (b === "unsure" ? t("keywords.unsure") : category(b));

  function verdict(v) {
    const box = el("div", {});
    box.append(el("p", {}, el("strong", { text: bucket(v.bucket) }), ` · ${t("keywords.confidence")} ${v.confidence}`));
    const scores = Object.entries(v.scores).map(([k, s]) => `${category(k)} ${s}`).join(" · ");
    box.append(el("p", { class: "kw-muted", text: `${t("keywords.scores")}: ${scores || "-"}` }));
    // The learned model's own view, before the rules' scores are added to its log-odds.
    if (v.model && Object.keys(v.model).length) {
      const model = Object.entries(v.model).map(([k, p]) => `${category(k)} ${p}`).join(" · ");
      box.append(el("p", { class: "kw-muted", text: `${t("keywords.model")}: ${model}` }));
    }
    const list = el("ul", {});
    for (const m of v.matched) {
      const forced = m.forced ? ` (${t("keywords.forced")})` : "";
      list.append(el("li", { text: `${m.phrase} → ${category(m.category)} ${m.weight}${forced}` }));
    }
    if (!v.matched.length) list.append(el("li", { class: "kw-muted", text: t("keywords.no_match") }));
    box.append(list);
    return box;
  }

  async function trySentence(event) {
    event.preventDefault();
    const text = $("try-text").value.trim();
    if (!text) return;
    const res = await api("POST", `${BASE}/try`, { text });
    if (!res.ok) { fail(res); return; }
    $("try-result").hidden = false;
    clear($("try-draft")); $("try-draft").append(verdict(res.data.draft));
    $("try-live-title").textContent = `${t("keywords.live")} v${res.data.live.version ?? "-"}`;
    clear($("try-live")); $("try-live").append(verdict(res.data.live));
  }

  function ruleRow(rule) {
    const weight = el("input", { type: "number", step: "0.1", value: rule.weight, "aria-label": t("keywords.weight") });
    const mode = el("select", { "aria-label": t("keywords.match_mode") });
    options(mode, MODES, (m) => t("keywords.modes." + m));
    mode.value = rule.match_mode;
    const cat = el("select", { "aria-label": t("keywords.category") });
    options(cat, CATEGORIES, category);
    cat.value = rule.category;
    const language = el("select", { "aria-label": t("keywords.language") });
    options(language, LANGUAGES, (l) => t("keywords.languages." + l));
    language.value = rule.language;
    const note = el("input", { class: "kw-note", value: rule.note, maxlength: "500", "aria-label": t("keywords.note") });
    const forced = el("input", { type: "checkbox", "aria-label": t("keywords.forced") });
    forced.checked = Boolean(rule.forced);
    const save = async (changes) => {
      const res = await api("POST", `${BASE}/rules/${rule.id}`, changes);
      if (!res.ok) { fail(res); return; }
      flash(t("keywords.saved"), "ok");
      loadRules();
    };
    const saveButton = el("button", {
      type: "button", text: t("keywords.save"),
      onclick: () => save({ weight: Number(weight.value), match_mode: mode.value, category: cat.value, language: language.value, note: note.value, forced: forced.checked }),
    });
    const toggle = el("button", {
      type: "button", text: rule.enabled ? t("keywords.disable") : t("keywords.enable"),
      onclick: () => save({ enabled: !rule.enabled }),
    });
    return el("tr", { dataset: { id: rule.id, enabled: String(rule.enabled) } },
      el("td", { text: rule.phrase }), el("td", {}, cat), el("td", {}, weight), el("td", {}, mode),
      el("td", {}, language), el("td", {}, note), el("td", {}, forced),
      el("td", { text: rule.enabled ? t("keywords.yes") : t("keywords.no") }), el("td", {}, saveButton, " ", toggle));
  }

  async function loadRules(more) {
    offset = more ? offset + 200 : 0;
    const q = encodeURIComponent($("search").value.trim());
    const c = encodeURIComponent($("search-category").value);
    const res = await api("GET", `${BASE}/rules?q=${q}&category=${c}&offset=${offset}`);
    if (!res.ok) { fail(res); return; }
    const body = $("rules");
    if (!more) clear(body);
    for (const rule of res.data.rules) body.append(ruleRow(rule));
    $("rule-count").textContent = `${res.data.total} ${t("keywords.rule_count")}`;
    $("more").hidden = offset + res.data.rules.length >= res.data.total;
    const u = res.data.unpublished;
    $("status-line").textContent = `${t("keywords.in_force")} v${res.data.in_force ?? "-"} · ${t("keywords.unpublished")}: `
      + `+${u.added} −${u.removed} ~${u.changed}`;
  }

  async function runReplay(event) {
    event.preventDefault();
    const res = await api("POST", `${BASE}/replay`, { limit: Number($("replay-limit").value) || 1000 });
    if (!res.ok) { fail(res); return; }
    const r = res.data;
    $("replay-result").hidden = false;
    const head = $("replay-head");
    clear(head);
    head.append(el("th", {}), ...Object.keys(r.before).map((b) => el("th", { text: bucket(b) })));
    const counts = $("replay-counts");
    clear(counts);
    counts.append(el("tr", {}, el("th", { text: `${t("keywords.before")} v${r.live_version ?? "-"}` }), ...Object.values(r.before).map((n) => el("td", { text: n }))));
    counts.append(el("tr", {}, el("th", { text: t("keywords.after") }), ...Object.values(r.after).map((n) => el("td", { text: n }))));
    $("replay-changed-title").textContent = `${t("keywords.changed")}: ${r.changed.length} / ${r.messages}`;
    const changed = $("replay-changed");
    clear(changed);
    for (const c of r.changed) {
      changed.append(el("tr", {}, el("td", { text: c.text }), el("td", { class: "kw-removed", text: bucket(c.before.bucket) }),
        el("td", { text: "→" }), el("td", { class: "kw-added", text: bucket(c.after.bucket) }),
        el("td", { class: "kw-muted", text: c.after.matched.map((m) => m.phrase).join(", ") })));
    }
  }

  async function publish() {
    if (!window.confirm(t("keywords.publish_confirm"))) return;
    const res = await api("POST", `${BASE}/publish`, { note: $("publish-note").value.trim() });
    if (!res.ok) { fail(res); return; }
    flash(`${t("keywords.published")} v${res.data.version}`, "ok");
    $("publish-note").value = "";
    loadRules(); loadVersions();
  }

  async function compare(a, b) {
    const res = await api("GET", `${BASE}/compare?a=${a}&b=${b}`);
    if (!res.ok) { fail(res); return; }
    $("compare-result").hidden = false;
    $("compare-title").textContent = `v${a} → ${b === "draft" ? t("keywords.draft") : "v" + b}`;
    const list = $("compare-list");
    clear(list);
    for (const r of res.data.added) list.append(el("li", { class: "kw-added", text: `+ ${r.phrase} (${category(r.category)} ${r.weight})` }));
    for (const r of res.data.removed) list.append(el("li", { class: "kw-removed", text: `− ${r.phrase} (${category(r.category)} ${r.weight})` }));
    for (const r of res.data.changed) {
      const what = Object.entries(r.changes).map(([k, [x, y]]) => `${t("keywords." + k)} ${x} → ${y}`).join(", ");
      list.append(el("li", { text: `~ ${r.phrase} (${category(r.category)}): ${what}` }));
    }
    if (!list.firstChild) list.append(el("li", { class: "kw-muted", text: t("keywords.no_difference") }));
  }

  async function loadVersions() {
    const res = await api("GET", `${BASE}/versions`);
    if (!res.ok) return;
    const body = $("versions");
    clear(body);
    for (const v of res.data.versions) {
      const actions = el("td", {},
        el("button", { type: "button", text: t("keywords.compare_draft"), onclick: () => compare(v.number, "draft") }), " ",
        el("a", { href: `${BASE}/export?version=${v.number}`, text: t("keywords.export") }));
      actions.append(" ", el("button", {
        type: "button", text: t("keywords.to_draft"),
        onclick: async () => {
          if (!window.confirm(t("keywords.to_draft_confirm"))) return;
          const r = await api("POST", `${BASE}/versions/${v.number}/to-draft`);
          if (!r.ok) { fail(r); return; }
          flash(t("keywords.saved"), "ok");
          loadRules();
        },
      }));
      if (!v.in_force) {
        actions.append(" ", el("button", {
          type: "button", text: t("keywords.rollback"),
          onclick: async () => {
            if (!window.confirm(t("keywords.rollback_confirm"))) return;
            const r = await api("POST", `${BASE}/versions/${v.number}/rollback`);
            if (!r.ok) { fail(r); return; }
            flash(`${t("keywords.in_force")} v${v.number}`, "ok");
            loadVersions(); loadRules();
          },
        }));
      }
      if (v.number > 1) actions.prepend(el("button", { type: "button", text: t("keywords.compare_previous"), onclick: () => compare(v.number - 1, v.number) }), " ");
      body.append(el("tr", {}, el("td", { text: `v${v.number}` }), el("td", { text: v.in_force ? t("keywords.in_force") : "" }),
        el("td", { text: v.created_at.slice(0, 16).replace("T", " ") }), el("td", { text: `${v.rules} ${t("keywords.rule_count")}` }),
        el("td", { text: v.note }), actions));
    }
  }

  async function loadLearning() {
    const res = await api("GET", `${BASE}/learning`);
    if (!res.ok) return;
    const sug = $("suggestions");
    clear(sug);
    for (const s of res.data.suggestions) {
      sug.append(el("tr", {}, el("td", { text: s.phrase }), el("td", { text: category(s.category) }),
        el("td", { text: `${s.count} ${t("keywords.messages")}` }),
        el("td", {}, el("button", {
          type: "button", text: t("keywords.add_to_draft"),
          onclick: async () => {
            const r = await api("POST", `${BASE}/rules`, { phrase: s.phrase, category: s.category, weight: 1.0, note: t("keywords.from_reps") });
            if (!r.ok) { fail(r); return; }
            flash(t("keywords.saved"), "ok");
            loadRules(); loadLearning();
          },
        }))));
    }
    if (!sug.firstChild) sug.append(el("tr", {}, el("td", { class: "kw-muted", text: t("keywords.no_suggestions") })));
    const rec = $("reclassifications");
    clear(rec);
    for (const r of res.data.reclassifications) {
      const messages = el("ul", {}, ...r.messages.map((m) => el("li", { text: m.text })));
      rec.append(el("tr", {}, el("td", {}, el("a", { href: `/console/tickets/${r.ticket}`, text: r.ticket })),
        el("td", { text: `${category(r.before)} → ${category(r.after)}` }), el("td", {}, messages)));
    }
  }

  async function importFile(event) {
    event.preventDefault();
    const file = $("import-file").files[0];
    const errors = $("import-errors");
    clear(errors);
    if (!file) return;
    const res = await api("POST", `${BASE}/import`, { yaml: await file.text(), publish: $("import-publish").checked });
    if (!res.ok) {
      for (const line of (res.data && res.data.errors) || [Console.errorText(res.status, res.data)]) errors.append(el("li", { text: line }));
      return;
    }
    flash(`${t("keywords.imported")}: ${res.data.rules}`, "ok");
    loadRules(); loadVersions();
  }

  async function main() {
    try { await Console.boot(); } catch (_) { return; }
    options($("search-category"), CATEGORIES, category, t("keywords.all_categories"));
    options($("add-category"), CATEGORIES, category);
    options($("add-mode"), MODES, (m) => t("keywords.modes." + m));
    $("try-form").addEventListener("submit", trySentence);
    $("search-form").addEventListener("submit", (e) => { e.preventDefault(); loadRules(); });
    $("more").addEventListener("click", () => loadRules(true));
    $("replay-form").addEventListener("submit", runReplay);
    $("publish").addEventListener("click", publish);
    $("import-form").addEventListener("submit", importFile);
    $("add-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const res = await api("POST", `${BASE}/rules`, {
        phrase: $("add-phrase").value.trim(), category: $("add-category").value,
        weight: Number($("add-weight").value), match_mode: $("add-mode").value, note: $("add-note").value.trim(),
        forced: $("add-forced").checked,
      });
      if (!res.ok) { fail(res); return; }
      event.target.reset();
      flash(t("keywords.saved"), "ok");
      loadRules();
    });
    await Promise.all([loadRules(), loadVersions(), loadLearning(), window.ModelsSection.start()]);
  }

  main();
})();
