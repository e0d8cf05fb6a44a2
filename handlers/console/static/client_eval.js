// The client evaluation (客户评估): ranked clients with kefu's figures and admins' scores, and tier suggestions.
"use strict";

(() => {
  const { t, el, clear, api, flash, fmtTime } = Console;
  const SCORES = ["business_importance", "market_influence", "payment_timeliness"];
  const PAGE = 100;
  let offset = 0;
  let latest = 0;
  let mayEdit = false;

  function pct(value) { return value === null || value === undefined ? "–" : `${Math.round(value * 1000) / 10}%`; }
  function num(value) { return value === null || value === undefined ? "–" : String(value); }
  function days() { return document.getElementById("f-days").value || "90"; }

  function reasonText(reasons) {
    return reasons.map((r) => t("client_eval.reason_" + r.code)).join("；");
  }

  function scoreCell(row, name) {
    if (!mayEdit) return el("td", { text: num(row[name]) });
    const input = el("input", { type: "number", min: "1", max: "5", value: row[name] ?? "", class: "score",
      "aria-label": t("client_eval." + name) });
    input.addEventListener("change", async () => {
      const res = await api("POST", `/console/api/admin/client-scores/${row.client_id}`, { [name]: input.value });
      if (!res.ok) { flash(Console.errorText(res.status, res.data)); input.value = row[name] ?? ""; return; }
      row[name] = res.data[name];
      flash(t("client_eval.saved"), "ok");
    });
    return el("td", {}, input);
  }

  function suggestions(items) {
    const box = document.getElementById("suggestions");
    clear(box);
    document.getElementById("suggestions-empty").hidden = items.length > 0;
    if (!items.length) return;
    const head = ["client", "change", "score", "reasons", "period"];
    box.append(el("thead", {}, el("tr", {}, [...head.map((k) => el("th", { text: t("client_eval." + k) })), mayEdit ? el("th") : null])));
    const body = el("tbody");
    for (const s of items) {
      const actions = mayEdit ? el("td", {},
        el("button", { type: "button", class: "primary", text: t("client_eval.accept"), onclick: () => decide(s.id, "accept") }), " ",
        el("button", { type: "button", text: t("client_eval.dismiss"), onclick: () => decide(s.id, "dismiss") })) : null;
      body.append(el("tr", { dataset: { suggestion: s.id } },
        el("td", { text: `${s.name} ${s.company}` }),
        el("td", { text: `${s.from_tier} → ${s.to_tier}` }),
        el("td", { text: num(s.score) }),
        el("td", { text: reasonText(s.reasons) }),
        el("td", { text: s.period }),
        actions));
    }
    box.append(body);
  }

  function clients(rows, total) {
    const box = document.getElementById("clients");
    if (offset === 0) {
      clear(box);
      const head = ["rank", "client", "tier", "score", "tickets", "complaints", "complaint_rate", "satisfaction",
        "trend", "sla", "reopened", "last_contact", ...SCORES, "suggestion"];
      box.append(el("thead", {}, el("tr", {}, head.map((k) => el("th", { text: t("client_eval." + k) })))));
      box.append(el("tbody"));
    }
    const body = box.querySelector("tbody");
    for (const r of rows) {
      const change = r.satisfaction_change;
      const trend = change === null ? "–" : change > 0 ? `↑ ${change}` : change < 0 ? `↓ ${-change}` : "→";
      body.append(el("tr", { dataset: { client: r.client_id } },
        el("td", { text: r.rank }),
        el("td", { text: `${r.name} ${r.company}` }),
        el("td", { text: r.tier }),
        el("td", { text: num(r.score) }),
        el("td", { text: `${r.tickets} (${r.previous_tickets})` }),
        el("td", { text: `${r.complaints} (${r.previous_complaints})` }),
        el("td", { text: pct(r.complaint_rate) }),
        el("td", { text: r.satisfaction_avg === null ? "–" : `${r.satisfaction_avg} (n=${r.rated})` }),
        el("td", { text: trend }),
        el("td", { text: r.sla_met_rate === null ? "–" : `${pct(r.sla_met_rate)} (n=${r.sla_decided})` }),
        el("td", { text: r.reopened }),
        el("td", { text: r.last_contact ? fmtTime(r.last_contact) : "–" }),
        SCORES.map((name) => scoreCell(r, name)),
        el("td", { text: r.suggestion ? `→ ${r.suggestion.to_tier}` : "" })));
    }
    offset += rows.length;
    document.getElementById("more").hidden = offset >= total;
  }

  async function load(reset) {
    if (reset) offset = 0;
    // A filter applied while the page's first load is on its way: only the newest answer is shown, or both
    // would be appended to one table.
    const request = ++latest;
    const res = await api("GET", `/console/api/client-evaluation?days=${encodeURIComponent(days())}&offset=${offset}&limit=${PAGE}`);
    if (request !== latest) return;
    if (!res.ok) { flash(Console.errorText(res.status, res.data)); return; }
    mayEdit = res.data.may_edit;
    document.getElementById("period").textContent = res.data.period;
    document.getElementById("suggest").hidden = !mayEdit;
    document.getElementById("import-card").hidden = !mayEdit;
    suggestions(res.data.suggestions);
    clients(res.data.clients, res.data.total);
    document.body.dataset.loaded = String(Date.now());
  }

  async function decide(id, decision) {
    const res = await api("POST", `/console/api/admin/tier-suggestions/${id}/${decision}`);
    if (!res.ok) { flash(Console.errorText(res.status, res.data)); return; }
    flash(t("client_eval.decided_" + decision), "ok");
    await load(true);
  }

  async function importFile() {
    const file = document.getElementById("import-file").files[0];
    if (!file) return;
    const response = await fetch("/console/api/admin/client-scores-import", {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "text/csv", "X-CSRF-Token": Console.state.csrf },
      body: await file.arrayBuffer(),
    });
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (!response.ok) { flash(Console.errorText(response.status, data)); return; }
    flash(`${t("client_eval.imported")} ${data.imported}`, "ok");
    await load(true);
  }

  async function main() {
    try { await Console.boot(); } catch (_) { return; }
    document.getElementById("filters").addEventListener("submit", (event) => { event.preventDefault(); load(true); });
    document.getElementById("more").addEventListener("click", () => load(false));
    document.getElementById("import").addEventListener("click", importFile);
    document.getElementById("suggest").addEventListener("click", async () => {
      const res = await api("POST", `/console/api/admin/client-evaluation/suggest?days=${encodeURIComponent(days())}`);
      if (!res.ok) { flash(Console.errorText(res.status, res.data)); return; }
      flash(`${t("client_eval.suggested")} ${res.data.added}`, "ok");
      await load(true);
    });
    await load(true);
  }

  main();
})();
