// Reports for supervisors and admins: filters, headline figures, charts (Chart.js, vendored), tables, CSV links.
"use strict";

(() => {
  const { t, el, clear, api, flash } = Console;
  const COLOURS = { inquiry: "#3b82f6", complaint: "#ef4444", suggestion: "#10b981", other: "#9ca3af" };
  const charts = {};
  const $ = (id) => document.getElementById(id);


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

  // Each headline figure with the n it was taken over, from the summary table the CSV file holds too.
  function kpis(summary) {
    const box = $("kpis");
    clear(box);
    summary.rows.forEach(([label, value, n], i) => {
      const parts = [el("dt", { text: label }), el("dd", { text: value === "" ? "–" : value })];
      if (n !== "") parts.push(el("small", { class: "n", text: `${t("reports.n_label")} = ${n}` }));
      box.append(el("div", { dataset: { figure: summary.keys[i] } }, parts));
    });
  }

  function alerts(lines) {
    const box = $("alerts");
    clear(box);
    box.hidden = !lines.length;
    for (const line of lines) box.append(el("p", { class: "banner", role: "status", text: line }));
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

  // A table as the server laid it out (the CSV file's header and rows); numbers align right.
  function table(id, data) {
    const box = $(id);
    clear(box);
    const numeric = data.header.map((_, i) => i > 0);
    box.append(el("thead", {}, el("tr", {}, data.header.map((label, i) => el("th", { class: numeric[i] ? "num" : null, text: label })))));
    const body = el("tbody");
    if (!data.rows.length) body.append(el("tr", {}, el("td", { colspan: data.header.length, class: "empty", text: t("reports.no_data") })));
    for (const row of data.rows) {
      body.append(el("tr", {}, row.map((value, i) => el("td", { class: numeric[i] ? "num" : null, text: value === null || value === "" ? "–" : String(value) }))));
    }
    box.append(body);
  }

  function tables(report) {
    for (const name of ["reps", "departments", "keywords"]) table(name, report.tables[name]);
  }

  async function load() {
    const params = query();
    for (const link of document.querySelectorAll("a.csv")) {
      link.href = `/console/api/reports/csv/${link.dataset.table}?${params}`;
    }
    const res = await api("GET", "/console/api/reports/data?" + params);
    if (!res.ok) { flash(Console.errorText(res.status, res.data)); return; }
    flash("");
    alerts(res.data.alert_texts);
    kpis(res.data.tables.summary);
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
