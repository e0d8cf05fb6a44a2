// Reports for supervisors and admins: filters, headline figures, charts (Chart.js, vendored), tables, CSV links.
"use strict";

(() => {
  const { t, el, clear, api, flash } = Console;
  const COLOURS = { inquiry: "#3b82f6", complaint: "#ef4444", suggestion: "#10b981", other: "#9ca3af" };
  const charts = {};
  const $ = (id) => document.getElementById(id);

  const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)}%`);
  const num = (v) => (v === null || v === undefined ? "–" : String(v));

  function query() {
    const params = new URLSearchParams({ start: $("f-start").value, end: $("f-end").value });
    for (const [key, id] of [["channel", "f-channel"], ["department", "f-department"], ["rep", "f-rep"]]) {
      if ($(id).value) params.set(key, $(id).value);
    }
    return params;
  }

  function option(value, text) {
    return el("option", { value }, text);
  }

  async function options() {
    const res = await api("GET", "/console/api/reports/options");
    if (!res.ok) { flash(Console.errorText(res.status, res.data)); return false; }
    const o = res.data;
    const end = new Date(o.today + "T00:00:00");
    const start = new Date(end.getTime() - (o.default_days - 1) * 86400000);
    const iso = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
    $("f-start").value = iso(start);
    $("f-end").value = o.today;
    const fill = (id, items) => {
      const box = $(id);
      clear(box);
      box.append(option("", t("reports.all")));
      for (const [value, text] of items) box.append(option(value, text));
    };
    fill("f-channel", o.channels.map((c) => [c, t("channel." + c)]));
    fill("f-department", o.departments.map((d) => [d.code, d.name]));
    fill("f-rep", o.reps.map((r) => [String(r.id), r.name]));
    return true;
  }

  function kpis(totals) {
    const box = $("kpis");
    clear(box);
    const items = [
      ["f_tickets", num(totals.tickets)],
      ["f_complaint_rate", pct(totals.complaint_rate)],
      ["f_first_response_median", num(totals.first_response.median_minutes)],
      ["f_first_response_p90", num(totals.first_response.p90_minutes)],
      ["f_resolution_median", num(totals.resolution.median_minutes)],
      ["f_resolution_p90", num(totals.resolution.p90_minutes)],
      ["f_sla_first_response", pct(totals.sla_first_response.rate)],
      ["f_sla_resolution", pct(totals.sla_resolution.rate)],
      ["f_satisfaction_avg", num(totals.satisfaction_avg)],
      ["f_no_feedback_rate", pct(totals.no_feedback_rate)],
      ["f_reopen_rate", pct(totals.reopen_rate)],
      ["f_unclassified_rate", pct(totals.unclassified_rate)],
    ];
    for (const [key, value] of items) {
      box.append(el("div", { dataset: { figure: key } }, el("dt", { text: t("reports." + key) }), el("dd", { text: value })));
    }
  }

  function draw(id, config) {
    if (charts[id]) charts[id].destroy();
    charts[id] = new Chart($(id), config);
  }

  function chartsFor(report) {
    const datasets = Object.entries(report.series.categories).map(([category, values]) => ({
      label: t("category." + category),
      data: values,
      backgroundColor: COLOURS[category] || "#6b7280",
      stack: "tickets",
    }));
    draw("chart-categories", {
      type: "bar",
      data: { labels: report.series.buckets, datasets },
      options: {
        maintainAspectRatio: false,
        animation: false,
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
    const scores = Object.keys(report.satisfaction);
    draw("chart-satisfaction", {
      type: "bar",
      data: {
        labels: scores.map((s) => `${s} ${t("reports.score_unit")}`),
        datasets: [{ label: t("reports.chart_satisfaction"), data: scores.map((s) => report.satisfaction[s]), backgroundColor: "#f59e0b" }],
      },
      options: {
        indexAxis: "y",
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { display: false } },
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
    $("granularity").textContent = t("reports.granularity_" + report.granularity);
  }

  function table(id, columns, rows) {
    const box = $(id);
    clear(box);
    box.append(el("thead", {}, el("tr", {}, columns.map(([label, , numeric]) => el("th", { class: numeric ? "num" : null, text: t("reports." + label) })))));
    const body = el("tbody");
    if (!rows.length) body.append(el("tr", {}, el("td", { colspan: columns.length, class: "empty", text: t("reports.no_data") })));
    for (const row of rows) {
      body.append(el("tr", {}, columns.map(([, value, numeric]) => el("td", { class: numeric ? "num" : null, text: value(row) }))));
    }
    box.append(body);
  }

  function tables(report) {
    table("reps", [
      ["c_rep", (r) => r.name],
      ["c_tickets", (r) => num(r.tickets), true],
      ["c_first_response_median", (r) => num(r.first_response_median_minutes), true],
      ["c_satisfaction", (r) => num(r.satisfaction_avg), true],
      ["c_rated", (r) => num(r.rated), true],
      ["c_reopen_rate", (r) => pct(r.reopen_rate), true],
    ], report.reps);
    table("departments", [
      ["c_department", (d) => d.name || t("reports.no_department")],
      ["c_tickets", (d) => num(d.tickets), true],
      ["c_complaint_rate", (d) => pct(d.complaint_rate), true],
      ["c_first_response_median", (d) => num(d.first_response_median_minutes), true],
      ["c_resolution_median", (d) => num(d.resolution_median_minutes), true],
      ["c_sla_first_response", (d) => pct(d.sla_first_response_rate), true],
      ["c_satisfaction", (d) => num(d.satisfaction_avg), true],
      ["c_reopen_rate", (d) => pct(d.reopen_rate), true],
    ], report.departments);
    table("keywords", [
      ["c_keyword", (k) => k.phrase],
      ["c_count", (k) => num(k.count), true],
    ], report.keywords);
  }

  async function load() {
    const params = query();
    for (const link of document.querySelectorAll("a.csv")) {
      link.href = `/console/api/reports/csv/${link.dataset.table}?${params}`;
    }
    const res = await api("GET", "/console/api/reports/data?" + params);
    if (!res.ok) { flash(Console.errorText(res.status, res.data)); return; }
    flash("");
    kpis(res.data.totals);
    chartsFor(res.data);
    tables(res.data);
    document.body.dataset.loaded = "true";
  }

  async function main() {
    try { await Console.boot(); } catch (_) { return; }
    if (!(await options())) return;
    $("filters").addEventListener("submit", (event) => { event.preventDefault(); load(); });
    await load();
  }

  main();
})();
