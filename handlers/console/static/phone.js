// 新建工单 for a call: find or name the caller, fill the bot's details form, add the call notes, submit.
"use strict";

(() => {
  const { t, el, api, flash, clear } = Console;
  let form = { categories: [] };
  let picked = null;

  function pick(client) {
    picked = client;
    const note = document.getElementById("caller-picked");
    note.textContent = `${t("phone.picked")}${client.name}${client.company ? " · " + client.company : ""}`;
    note.hidden = false;
    document.getElementById("new-caller").disabled = true;
  }

  async function search(event) {
    event.preventDefault();
    await ready;
    const q = document.getElementById("caller-q").value.trim();
    const list = document.getElementById("callers");
    clear(list);
    if (!q) return;
    const res = await api("GET", "/console/api/phone/callers?q=" + encodeURIComponent(q));
    if (!res.ok) { flash(Console.errorText(res.status, res.data)); return; }
    if (!res.data.clients.length) list.append(el("li", { class: "hint", text: t("phone.none_found") }));
    for (const client of res.data.clients) {
      const label = [client.name, client.company, client.phone, client.tier].filter(Boolean).join(" · ");
      list.append(el("li", {}, el("button", { type: "button", class: "link", text: label, onclick: () => pick(client) })));
    }
  }

  function drawDetails() {
    const box = document.getElementById("details");
    clear(box);
    const category = form.categories.find((c) => c.id === document.getElementById("category").value);
    if (!category) return;
    for (const slot of category.slots) {
      const id = "slot-" + slot.name;
      const mark = slot.required ? " *" : ` ${t("phone.optional")}`;
      let input;
      if (slot.choices.length) {
        input = el("select", { id, name: slot.name }, el("option", { value: "", text: "—" }),
          slot.choices.map((c) => el("option", { value: c, text: c })));
      } else {
        input = el("input", { id, name: slot.name, maxlength: "1000", inputmode: slot.phone ? "tel" : null });
      }
      box.append(el("label", { class: "stack" }, el("span", { text: slot.label + mark }), input,
        el("span", { class: "field-problem", id: id + "-problem", hidden: true })));
    }
  }

  function showProblems(problems) {
    for (const node of document.querySelectorAll(".field-problem")) node.hidden = true;
    const rest = [];
    for (const [name, text] of Object.entries(problems)) {
      const node = document.getElementById(`slot-${name}-problem`);
      if (node) { node.textContent = text; node.hidden = false; } else rest.push(text);
    }
    flash(rest.length ? rest.join("；") : t("phone.fix_problems"));
  }

  async function submit(event) {
    event.preventDefault();
    await ready;
    const details = {};
    for (const input of document.querySelectorAll("#details [name]")) {
      if (input.value.trim()) details[input.name] = input.value.trim();
    }
    const body = { category: document.getElementById("category").value, details,
      notes: document.getElementById("notes").value };
    if (picked) body.client_id = picked.id;
    else body.new_client = { name: document.getElementById("new-name").value,
      company: document.getElementById("new-company").value, phone: document.getElementById("new-phone").value };
    const res = await api("POST", "/console/api/phone/calls", body);
    if (res.status === 422 && res.data && res.data.problems) { showProblems(res.data.problems); return; }
    if (!res.ok) { flash(Console.errorText(res.status, res.data)); return; }
    const created = document.getElementById("created");
    clear(created);
    created.append(t("phone.created"), el("a", { href: "/console/tickets/" + encodeURIComponent(res.data.number),
      id: "created-link", text: res.data.number }));
    if (res.data.told_on) created.append(" " + t("phone.told") + res.data.told_on);
    created.hidden = false;
    flash(t("phone.created") + res.data.number, "ok");
  }

  async function main() {
    try { await Console.boot(); } catch (_) { return; }
    const res = await api("GET", "/console/api/phone/form");
    if (!res.ok) { flash(Console.errorText(res.status, res.data)); return; }
    form = res.data;
    const select = document.getElementById("category");
    for (const c of form.categories) select.append(el("option", { value: c.id, text: c.label }));
    select.addEventListener("change", drawDetails);
    drawDetails();
  }

  // The forms are taken over before the page has loaded its texts and categories, so a search typed at once
  // waits for them instead of being sent by the browser as a plain form (a page reload that loses it).
  document.getElementById("caller-search").addEventListener("submit", search);
  document.getElementById("call-form").addEventListener("submit", submit);
  const ready = main();
})();
