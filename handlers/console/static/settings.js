// Admins' settings: departments and routing, SLA, business hours, canned replies, client texts, dialogue acts, clients.
"use strict";

(() => {
  const { t, el, clear, api, flash } = Console;
  const PRIORITIES = ["P1", "P2", "P3", "P4"];
  const WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
  const docs = {};
  const loaded = {};
  const $ = (id) => document.getElementById(id);
  const list = (text) => text.split(/[,，\n]/).map((s) => s.trim()).filter(Boolean);

  function failure(res) {
    if (res.status === 409) return t("settings.conflict");
    if (res.status === 400) return t("settings.invalid") + ((res.data && res.data.error) ? ": " + res.data.error : "");
    return Console.errorText(res.status, res.data);
  }

  function showRevision(name, id) {
    const doc = docs[name];
    $(id).textContent = doc.revision ? `${t("settings.revision")} ${doc.revision}` : t("settings.as_shipped");
  }

  async function load(name) {
    const res = await api("GET", `/console/api/admin/config/${name}`);
    if (!res.ok) { flash(failure(res)); return null; }
    docs[name] = res.data;
    return res.data;
  }

  // Saved against the revision the page holds: another admin's save in between gets a 409, not lost.
  async function save(name, body) {
    const res = await api("POST", `/console/api/admin/config/${name}`, { revision: docs[name].revision, body });
    if (!res.ok) { flash(failure(res)); return false; }
    docs[name].revision = res.data.revision;
    docs[name].body = body;
    flash(t("settings.saved"), "ok");
    return true;
  }

  // ------------------------------------------------------------ departments and routing

  let directory = { departments: [], users: [], categories: [] };

  function headSelect(current) {
    const select = el("select", { "aria-label": t("settings.head") }, el("option", { value: "" }, t("settings.no_head")));
    for (const u of directory.users) {
      select.append(el("option", { value: String(u.id), selected: u.id === current }, `${u.name} (${u.username})`));
    }
    return select;
  }

  async function departments() {
    const res = await api("GET", "/console/api/admin/departments");
    if (!res.ok) { flash(failure(res)); return; }
    directory = res.data;
    const body = $("departments");
    clear(body);
    for (const d of directory.departments) {
      const name = el("input", { value: d.name, maxlength: 128, "aria-label": t("settings.name") });
      const head = headSelect(d.head_user_id);
      const saveButton = el("button", {
        type: "button",
        text: t("settings.save"),
        onclick: async () => {
          const r = await api("POST", `/console/api/admin/departments/${encodeURIComponent(d.code)}`, {
            name: name.value.trim(),
            head_user_id: head.value ? Number(head.value) : null,
          });
          if (!r.ok) { flash(failure(r)); return; }
          flash(t("settings.saved"), "ok");
        },
      });
      body.append(el("tr", { dataset: { code: d.code } }, el("td", { text: d.code }), el("td", {}, name), el("td", {}, head), el("td", {}, saveButton)));
    }
    if (await load("routing")) routing();
  }

  function routing() {
    const doc = docs.routing.body;
    const byCode = Object.fromEntries((doc.departments || []).map((d) => [d.code, d]));
    const body = $("routing");
    clear(body);
    for (const d of directory.departments) {
      const spec = byCode[d.code] || { code: d.code, categories: [], keywords: [] };
      const cats = el("span", { class: "row" });
      for (const c of directory.categories) {
        cats.append(el("label", {}, el("input", { type: "checkbox", value: c, checked: (spec.categories || []).includes(c) }), " " + t("category." + c)));
      }
      const keywords = el("textarea", { rows: 2, "aria-label": t("settings.keywords") });
      keywords.value = (spec.keywords || []).join(", ");
      const def = el("input", { type: "radio", name: "default-department", value: d.code, checked: doc.default === d.code, "aria-label": t("settings.default") });
      body.append(el("tr", { dataset: { code: d.code } }, el("td", {}, def), el("td", { text: `${d.name} (${d.code})` }), el("td", {}, cats), el("td", {}, keywords)));
    }
    showRevision("routing", "routing-revision");
  }

  async function saveRouting() {
    const old = Object.fromEntries((docs.routing.body.departments || []).map((d) => [d.code, d]));
    const departments = [];
    let chosen = docs.routing.body.default;
    for (const row of $("routing").querySelectorAll("tr")) {
      const code = row.dataset.code;
      const info = directory.departments.find((d) => d.code === code);
      departments.push({
        code,
        name: info ? info.name : code,
        head: old[code] ? old[code].head ?? null : null,
        categories: [...row.querySelectorAll("input[type=checkbox]:checked")].map((c) => c.value),
        keywords: list(row.querySelector("textarea").value),
      });
      if (row.querySelector("input[type=radio]").checked) chosen = code;
    }
    if (await save("routing", { default: chosen, departments })) showRevision("routing", "routing-revision");
  }

  // ------------------------------------------------------------ SLA

  function sla() {
    const doc = docs.sla.body;
    const targets = $("sla-targets");
    clear(targets);
    for (const p of PRIORITIES) {
      const target = (doc.targets || {})[p] || {};
      const input = (field, value) => el("input", { type: "number", min: "1", step: "any", id: `sla-${p}-${field}`, value: value ?? "", "aria-label": `${p} ${t("settings." + field)}` });
      targets.append(el("tr", {}, el("th", { text: p }), el("td", {}, input("first_response_minutes", target.first_response_minutes)), el("td", {}, input("resolution_hours", target.resolution_hours))));
    }
    const categories = docs.sla.categories;
    const head = $("tier-head");
    clear(head);
    head.append(el("tr", {}, el("th", { text: t("settings.tier") }), categories.map((c) => el("th", { text: t("category." + c) }))));
    const rows = $("tier-priority");
    clear(rows);
    for (const [tier, byCategory] of Object.entries(doc.priority || {})) {
      rows.append(el("tr", { dataset: { tier } }, el("th", { text: tier }), categories.map((c) => {
        const select = el("select", { dataset: { category: c }, "aria-label": `${tier} ${t("category." + c)}` });
        for (const p of PRIORITIES) select.append(el("option", { value: p, selected: byCategory[c] === p }, p));
        return el("td", {}, select);
      })));
    }
    $("urgent-cues").value = (doc.urgent_cues || []).join(", ");
    showRevision("sla", "sla-revision");
  }

  async function saveSla() {
    const targets = {};
    for (const p of PRIORITIES) {
      targets[p] = {
        first_response_minutes: Number($(`sla-${p}-first_response_minutes`).value),
        resolution_hours: Number($(`sla-${p}-resolution_hours`).value),
      };
    }
    const priority = {};
    for (const row of $("tier-priority").querySelectorAll("tr")) {
      priority[row.dataset.tier] = {};
      for (const select of row.querySelectorAll("select")) priority[row.dataset.tier][select.dataset.category] = select.value;
    }
    if (await save("sla", { targets, priority, urgent_cues: list($("urgent-cues").value) })) showRevision("sla", "sla-revision");
  }

  // ------------------------------------------------------------ business hours

  function hours() {
    const doc = docs.business_hours.body;
    $("hours-timezone").value = doc.timezone || "Asia/Shanghai";
    const week = $("hours-week");
    clear(week);
    const makeup = $("hours-makeup");
    clear(makeup);
    for (const [i, day] of WEEKDAYS.entries()) {
      const input = el("input", { id: `hours-${day}`, value: ((doc.hours || {})[day] || []).join(", "), placeholder: "09:00-12:00, 13:30-18:00", "aria-label": t("settings.day_" + day) });
      week.append(el("tr", {}, el("th", { text: t("settings.day_" + day) }), el("td", {}, input)));
      const current = doc.makeup_weekday ?? "monday";
      makeup.append(el("option", { value: day, selected: current === day || current === i }, t("settings.day_" + day)));
    }
    $("hours-holidays").value = (doc.holidays || []).join("\n");
    $("hours-extra").value = (doc.extra_workdays || []).join("\n");
    $("hours-source").value = doc.holiday_source || "chinese-calendar";
    $("hours-covered").value = (doc.covered_years || []).join(", ");
    showRevision("business_hours", "hours-revision");
  }

  async function saveHours() {
    const week = {};
    for (const day of WEEKDAYS) week[day] = list($(`hours-${day}`).value);
    const body = {
      timezone: $("hours-timezone").value.trim(),
      makeup_weekday: $("hours-makeup").value,
      hours: week,
      holidays: list($("hours-holidays").value),
      extra_workdays: list($("hours-extra").value),
      holiday_source: $("hours-source").value,
      // Years stay numbers in the document, as in config/business_hours.yaml; the loader refuses non-years.
      covered_years: list($("hours-covered").value).map((y) => (/^\d+$/.test(y) ? Number(y) : y)),
    };
    if (await save("business_hours", body)) showRevision("business_hours", "hours-revision");
  }

  // ------------------------------------------------------------ canned replies

  // The default language (zh) first, as everywhere in kefu.
  function languages() {
    return [...Console.state.languages].sort((a, b) => (b === "zh") - (a === "zh"));
  }

  function cannedItem(reply) {
    const box = el("fieldset", { class: "canned-reply" });
    box.append(el("label", { class: "stack" }, el("span", { text: t("settings.reply_id") }), el("input", { value: reply.id || "", maxlength: 64, dataset: { field: "id" } })));
    for (const lang of languages()) {
      const title = el("input", { value: (reply.title || {})[lang] || "", maxlength: 200, dataset: { field: "title", lang } });
      const text = el("textarea", { rows: 2, dataset: { field: "text", lang } });
      text.value = (reply.text || {})[lang] || "";
      box.append(el("label", { class: "stack" }, el("span", { text: `${t("settings.reply_title")} (${lang})` }), title));
      box.append(el("label", { class: "stack" }, el("span", { text: `${t("settings.reply_text")} (${lang})` }), text));
    }
    box.append(el("button", { type: "button", class: "danger", text: t("settings.remove"), onclick: () => box.remove() }));
    return box;
  }

  function canned() {
    const box = $("canned-list");
    clear(box);
    for (const reply of docs.canned_replies.body.replies || []) box.append(cannedItem(reply));
    showRevision("canned_replies", "canned-revision");
  }

  async function saveCanned() {
    const replies = [...$("canned-list").querySelectorAll("fieldset")].map((box) => {
      const reply = { id: box.querySelector("[data-field=id]").value.trim(), title: {}, text: {} };
      for (const node of box.querySelectorAll("[data-lang]")) {
        if (node.value.trim()) reply[node.dataset.field][node.dataset.lang] = node.value.trim();
      }
      return reply;
    });
    if (await save("canned_replies", { replies })) showRevision("canned_replies", "canned-revision");
  }

  // ------------------------------------------------------------ client texts

  function texts() {
    const doc = docs.texts;
    const lang = $("texts-lang").value || Console.state.me.language;
    const term = $("texts-filter").value.trim().toLowerCase();
    const overrides = (doc.body.overrides || {})[lang] || {};
    const body = $("texts-rows");
    clear(body);
    for (const item of doc.catalog) {
      const shipped = item.shipped[lang] ?? item.shipped.zh ?? "";
      const current = overrides[item.key];
      if (term && !item.key.toLowerCase().includes(term) && !shipped.toLowerCase().includes(term) && !(current || "").toLowerCase().includes(term)) continue;
      const area = el("textarea", { rows: 2, placeholder: shipped, "aria-label": item.key });
      area.value = current || "";
      const store = async (value) => {
        const all = JSON.parse(JSON.stringify(doc.body.overrides || {}));
        all[lang] = all[lang] || {};
        if (value === null) delete all[lang][item.key]; else all[lang][item.key] = value;
        if (!Object.keys(all[lang]).length) delete all[lang];
        if (await save("texts", { overrides: all })) texts();
      };
      body.append(el("tr", { dataset: { key: item.key, overridden: current ? "true" : "false" } },
        el("td", {}, el("code", { text: item.key }), current ? el("span", { class: "badge waiting", text: t("settings.overridden") }) : null),
        el("td", { class: "shipped", text: shipped }),
        el("td", {}, area),
        el("td", {},
          el("button", { type: "button", text: t("settings.save"), onclick: () => (area.value.trim() ? store(area.value.trim()) : store(null)) }),
          current ? el("button", { type: "button", text: t("settings.reset"), onclick: () => store(null) }) : null)));
    }
  }

  // ------------------------------------------------------------ clients

  let tiers = [];

  async function clients() {
    const res = await api("GET", "/console/api/admin/clients?q=" + encodeURIComponent($("client-q").value.trim()));
    if (!res.ok) { flash(failure(res)); return; }
    tiers = res.data.tiers;
    const body = $("clients");
    clear(body);
    if (!res.data.clients.length) body.append(el("tr", {}, el("td", { colspan: 5, class: "empty", text: t("settings.no_clients") })));
    for (const c of res.data.clients) {
      const name = el("input", { value: c.name, maxlength: 128, "aria-label": t("settings.name") });
      const company = el("input", { value: c.company, maxlength: 200, "aria-label": t("settings.company") });
      const phone = el("input", { value: "", placeholder: c.phone || "", maxlength: 32, "aria-label": t("settings.phone") });
      const tier = el("select", { "aria-label": t("settings.tier") });
      for (const x of tiers) tier.append(el("option", { value: x, selected: x === c.tier }, x));
      const saveButton = el("button", {
        type: "button",
        text: t("settings.save"),
        onclick: async () => {
          const r = await api("POST", `/console/api/admin/clients/${c.id}`, { name: name.value.trim(), company: company.value.trim(), phone: phone.value.trim(), tier: tier.value });
          if (!r.ok) { flash(failure(r)); return; }
          flash(t("settings.saved"), "ok");
          phone.value = "";
          phone.placeholder = r.data.phone || "";
        },
      });
      body.append(el("tr", {}, el("td", {}, name), el("td", {}, company), el("td", {}, phone), el("td", {}, tier), el("td", {}, saveButton)));
    }
  }

  let previewed = null;

  // The file goes as it is (not JSON): the server reads UTF-8, with or without Excel's byte-order mark.
  async function sendCsv(path, bytes) {
    const response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "text/csv", "X-CSRF-Token": Console.state.csrf },
      body: bytes,
    });
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    return { ok: response.ok, status: response.status, data };
  }

  function rowError(e) {
    const text = t("settings.import_err_" + e.code);
    return e.value ? `${text}: ${e.value}` : text;
  }

  function showImport(data, done) {
    $("import-summary").textContent = `${done ? t("settings.imported") : t("settings.would_import")} — ${t("settings.created")} ${data.created} · ${t("settings.updated")} ${data.updated} · ${t("settings.skipped")} ${data.skipped}`;
    const body = $("import-rows");
    clear(body);
    body.append(el("tr", {}, ["line", "name", "company", "phone", "tier", "action"].map((k) => el("th", { text: t("settings.col_" + k) }))));
    for (const r of data.rows) {
      body.append(el("tr", { dataset: { action: r.action } },
        el("td", { text: r.line }), el("td", { text: r.name }), el("td", { text: r.company }), el("td", { text: r.phone }), el("td", { text: r.tier }),
        el("td", { text: t("settings.action_" + r.action) + (r.errors.length ? " — " + r.errors.map(rowError).join("; ") : "") })));
    }
  }

  async function preview() {
    const file = $("import-file").files[0];
    if (!file) { flash(t("settings.choose_file")); return; }
    const bytes = await file.arrayBuffer();
    const res = await sendCsv("/console/api/admin/clients-import/preview", bytes);
    previewed = null;
    $("import-commit").disabled = true;
    if (!res.ok) { flash(failure(res)); return; }
    previewed = { bytes, digest: res.data.digest };
    $("import-commit").disabled = !(res.data.created + res.data.updated);
    showImport(res.data, false);
  }

  async function commit() {
    if (!previewed) return;
    const res = await sendCsv(`/console/api/admin/clients-import/commit?digest=${previewed.digest}`, previewed.bytes);
    if (!res.ok) { flash(failure(res)); return; }
    previewed = null;
    $("import-commit").disabled = true;
    showImport(res.data, true);
    flash(t("settings.saved"), "ok");
    clients();
  }

  // ------------------------------------------------------------ dialogue acts

  // Each act's phrases, one textarea per list; the rest of the document (claims, scores…) is kept as it is.
  function acts() {
    const doc = docs.acts.body;
    const body = $("acts-rows");
    clear(body);
    for (const [name, spec] of Object.entries(doc.acts || {})) {
      const cell = (key) => {
        const area = el("textarea", { id: `act-${name}-${key}`, rows: 3, "aria-label": `${t("settings.act_" + name)} ${t("settings.act_" + key)}` });
        area.value = ((spec || {})[key] || []).join(", ");
        return el("td", {}, area);
      };
      body.append(el("tr", { dataset: { act: name } }, el("th", { text: t("settings.act_" + name) }), cell("phrases"), cell("alone_phrases"), cell("leading_phrases"), cell("topic_phrases")));
    }
    showRevision("acts", "acts-revision");
  }

  async function saveActs() {
    const doc = structuredClone(docs.acts.body);
    for (const row of $("acts-rows").querySelectorAll("tr")) {
      const name = row.dataset.act;
      doc.acts[name] = { ...(doc.acts[name] || {}), phrases: list($(`act-${name}-phrases`).value) };
      for (const key of ["alone_phrases", "leading_phrases", "topic_phrases"]) {
        const phrases = list($(`act-${name}-${key}`).value);
        if (phrases.length) doc.acts[name][key] = phrases; else delete doc.acts[name][key];
      }
    }
    if (await save("acts", doc)) showRevision("acts", "acts-revision");
  }

  // ------------------------------------------------------------ tabs

  const openers = {
    departments: departments,
    sla: async () => { if (await load("sla")) sla(); },
    hours: async () => { if (await load("business_hours")) hours(); },
    canned: async () => { if (await load("canned_replies")) canned(); },
    texts: async () => { if (await load("texts")) texts(); },
    acts: async () => { if (await load("acts")) acts(); },
    clients: clients,
  };

  async function show(tab) {
    for (const button of $("tabs").querySelectorAll("[data-tab]")) {
      const on = button.dataset.tab === tab;
      button.setAttribute("aria-selected", on ? "true" : "false");
      $("panel-" + button.dataset.tab).hidden = !on;
    }
    if (!loaded[tab]) {
      loaded[tab] = true;
      await openers[tab]();
    }
  }

  async function main() {
    try { await Console.boot(); } catch (_) { return; }
    for (const button of $("tabs").querySelectorAll("[data-tab]")) {
      button.addEventListener("click", () => { history.replaceState(null, "", "#" + button.dataset.tab); show(button.dataset.tab); });
    }
    const lang = $("texts-lang");
    for (const l of languages()) lang.append(el("option", { value: l, selected: l === Console.state.me.language }, l));
    lang.addEventListener("change", texts);
    $("texts-filter").addEventListener("input", Console.debounce(texts, 200));
    $("routing-save").addEventListener("click", saveRouting);
    $("sla-save").addEventListener("click", saveSla);
    $("hours-save").addEventListener("click", saveHours);
    $("canned-save").addEventListener("click", saveCanned);
    $("acts-save").addEventListener("click", saveActs);
    $("canned-add").addEventListener("click", () => $("canned-list").append(cannedItem({})));
    $("client-search").addEventListener("submit", (event) => { event.preventDefault(); clients(); });
    $("import-preview").addEventListener("click", preview);
    $("import-commit").addEventListener("click", commit);
    $("import-file").addEventListener("change", () => { previewed = null; $("import-commit").disabled = true; });
    $("department-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const res = await api("POST", "/console/api/admin/departments", { code: $("new-code").value.trim(), name: $("new-dept-name").value.trim() });
      if (!res.ok) { flash(failure(res)); return; }
      event.target.reset();
      flash(t("settings.saved"), "ok");
      departments();
    });
    const first = location.hash.slice(1);
    await show(openers[first] ? first : "departments");
  }

  main();
})();
