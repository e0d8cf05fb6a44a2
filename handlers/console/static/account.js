// The signed-in person's own account: change the password.
"use strict";

(() => {
  const { t, api, flash } = Console;

  async function main() {
    try { await Console.boot(); } catch (_) { return; }
    document.getElementById("password-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const value = (id) => document.getElementById(id).value;
      if (value("new") !== value("repeat")) { flash(t("account.mismatch")); return; }
      const res = await api("POST", "/console/api/account/password", { current: value("current"), new: value("new") });
      if (!res.ok) { flash(Console.errorText(res.status, res.data)); return; }
      event.target.reset();
      flash(t("account.changed"), "ok");
    });
  }

  main();
})();
