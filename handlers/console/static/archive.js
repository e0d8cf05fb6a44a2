// The weekly report archive: every week's report, its deliveries, and its CSV files.
"use strict";

(() => {
  const { t, el, clear, api, flash, fmtTime } = Console;

  async function main() {
    try { await Console.boot(); } catch (_) { return; }
    const res = await api("GET", "/console/api/reports/archive");
    if (!res.ok) { flash(Console.errorText(res.status, res.data)); return; }
    const box = document.getElementById("archive");
    clear(box);
    const reports = res.data.reports;
    document.getElementById("archive-empty").hidden = reports.length > 0;
    if (!reports.length) return;
    const head = ["a_week", "a_period", "a_created", "a_sent", "a_view", "a_download"];
    box.append(el("thead", {}, el("tr", {}, head.map((k) => el("th", { text: t("reports." + k) })))));
    const body = el("tbody");
    for (const r of reports) {
      const sent = ["sent", "pending", "failed"]
        .filter((s) => r.deliveries[s])
        .map((s) => `${t("reports.a_" + s)} ${r.deliveries[s]}`)
        .join(" · ");
      const base = `/console/reports/archive/${encodeURIComponent(r.week)}`;
      body.append(el("tr", { dataset: { week: r.week } },
        el("td", { text: r.week }),
        el("td", { text: `${r.start} – ${r.end}` }),
        el("td", { text: fmtTime(r.created_at) }),
        el("td", { text: sent || "–" }),
        el("td", {}, el("a", { href: base, text: t("reports.a_view") })),
        el("td", {}, r.tables.flatMap((name) => [el("a", { class: "csv", href: `${base}/${name}.csv`, text: name }), " "]))));
    }
    box.append(body);
  }

  main();
})();
