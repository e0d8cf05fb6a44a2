// Reports for supervisors and admins; users for admins.
"use strict";

(() => {
  const { t, el, clear, api, flash } = Console;

  async function reports() {
    const res = await api("GET", "/console/api/reports");
    if (!res.ok) { flash(Console.errorText(res.status, res.data)); return; }
    const box = document.getElementById("reports");
    clear(box);
    const r = res.data;
    box.append(el("dt", { text: t("admin.by_status") }), el("dd", { text: Object.entries(r.by_status).map(([k, v]) => `${t("status." + k)} ${v}`).join(" · ") }));
    box.append(el("dt", { text: t("admin.by_category") }), el("dd", { text: Object.entries(r.by_category).map(([k, v]) => `${t("category." + k)} ${v}`).join(" · ") }));
    box.append(el("dt", { text: t("admin.breached") }), el("dd", { text: r.breached }));
    box.append(el("dt", { text: t("admin.satisfaction") }), el("dd", { text: r.satisfaction ?? "-" }));
  }

  async function users() {
    const res = await api("GET", "/console/api/admin/users");
    if (!res.ok) return;
    document.getElementById("users-card").hidden = false;
    const body = document.getElementById("users");
    clear(body);
    for (const u of res.data.users) {
      const toggle = el("button", {
        type: "button",
        text: u.active ? t("admin.disable") : t("admin.enable"),
        onclick: async () => {
          const r = await api("POST", `/console/api/admin/users/${u.id}/active`, { active: !u.active });
          if (!r.ok) flash(Console.errorText(r.status, r.data));
          users();
        },
      });
      const reset = el("button", {
        type: "button",
        text: t("admin.reset_password"),
        onclick: async () => {
          const password = window.prompt(t("admin.reset_prompt"));
          if (!password) return;
          const r = await api("POST", `/console/api/admin/users/${u.id}/password`, { password });
          flash(r.ok ? t("admin.reset_done") : Console.errorText(r.status, r.data), r.ok ? "ok" : undefined);
        },
      });
      body.append(el("tr", {}, el("td", { text: u.username }), el("td", { text: u.name }), el("td", { text: t("roles." + u.role) }), el("td", { text: u.department || "" }), el("td", {}, toggle, reset)));
    }
    const dir = await api("GET", "/console/api/directory");
    const dept = document.getElementById("new-department");
    clear(dept);
    dept.append(el("option", { value: "" }, "-"));
    if (dir.ok) for (const d of dir.data.departments) dept.append(el("option", { value: d.code }, d.name));
    for (const option of document.getElementById("new-role").options) option.textContent = t("roles." + option.value);
  }

  async function main() {
    try { await Console.boot(); } catch (_) { return; }
    document.getElementById("user-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const value = (id) => document.getElementById(id).value.trim();
      const department = value("new-department");
      const res = await api("POST", "/console/api/admin/users", {
        username: value("new-username"),
        name: value("new-name"),
        role: value("new-role"),
        password: document.getElementById("new-password").value,
        departments: department ? [department] : [],
      });
      if (!res.ok) { flash(Console.errorText(res.status, res.data)); return; }
      event.target.reset();
      flash(t("ticket.saved"), "ok");
      users();
    });
    await reports();
    if (Console.state.me.role === "admin") {
      await users();
      const res = await api("GET", "/console/api/admin/settings");
      if (res.ok) {
        document.getElementById("settings-card").hidden = false;
        document.getElementById("settings").textContent = JSON.stringify(res.data, null, 2);
      }
    }
  }

  main();
})();
