// One ticket: transcript across channels, takeover and reply, notes, transfer, resolve and close, live.
"use strict";

(() => {
  const { t, el, clear, api, flash, fmtTime, countdown, debounce } = Console;
  const number = decodeURIComponent(location.pathname.split("/").pop());
  const base = "/console/api/tickets/" + encodeURIComponent(number);
  const CATEGORIES = ["inquiry", "complaint", "suggestion", "other"];
  const PRIORITIES = ["P1", "P2", "P3", "P4"];
  const OPEN = ["received", "classified", "investigating"];
  let current = null;
  let revealed = null;

  function author(m) {
    if (m.direction === "in") return t("ticket.client");
    return m.author ? `${t("ticket.you")} ${m.author}` : t("ticket.bot");
  }

  function attachment(a) {
    const label = t("ticket." + (["image", "voice", "video"].includes(a.kind) ? a.kind : "file"));
    if (!a.url) return el("span", { class: "delivery", text: `[${label}] ${t("ticket.media_missing")}` });
    if (a.kind === "image") return el("a", { href: a.url, target: "_blank", rel: "noopener" }, el("img", { src: a.url, alt: label, loading: "lazy" }));
    if (a.kind === "voice") {
      return el("span", {}, el("audio", { controls: true, preload: "none", src: a.play_url || a.url, "aria-label": label }), " ", el("a", { href: a.url, download: "", text: t("ticket.download") }));
    }
    if (a.kind === "video") return el("video", { controls: true, preload: "none", src: a.url, "aria-label": label });
    return el("a", { href: a.url, download: "", text: `${label} ${a.name || ""}` });
  }

  // Contact data stays masked until 显示联系方式; the revealed texts live in this page view only.
  function shownText(m) {
    return revealed && revealed.messages[m.id] !== undefined ? revealed.messages[m.id] : m.text;
  }

  function message(m) {
    const meta = [el("span", { text: author(m) }), el("span", { text: t("channel." + m.channel) }), el("time", { datetime: m.at, text: fmtTime(m.at) })];
    if (m.direction === "out" && m.delivery && m.delivery !== "sent") {
      meta.push(el("span", { class: "delivery", text: t("ticket.delivery_" + m.delivery) }));
    }
    return el(
      "li",
      { class: "msg " + (m.direction === "in" ? "in" : "out"), dataset: { id: m.id, direction: m.direction } },
      el("div", { class: "msg-meta" }, meta),
      m.text ? el("div", { class: "msg-text", text: shownText(m) }) : null,
      m.attachments.map(attachment),
    );
  }

  function sla(node, due, done, breached, estimated) {
    clear(node);
    if (done) node.append(el("span", { text: `${t("ticket.sla_done")} ${fmtTime(done)}` }));
    else if (current.ticket.sla_paused) node.append(el("span", { text: t("ticket.sla_paused") }));
    else if (due) {
      const left = countdown(due);
      node.append(
        el("span", { class: left.over || breached ? "sla-over" : "", dataset: { due } }, `${fmtTime(due)} (${left.text} ${left.over ? t("ticket.sla_over") : t("ticket.sla_left")})`),
      );
      // Past the days whose holidays are known, the deadline counts them as an ordinary week.
      if (estimated) node.append(" ", el("span", { class: "badge estimated", title: t("ticket.sla_estimated_hint"), text: t("ticket.sla_estimated") }));
    }
  }

  function fillSelect(select, values, label, chosen) {
    clear(select);
    for (const value of values) select.append(el("option", { value, selected: value === chosen }, label(value)));
  }

  function render(data) {
    current = data;
    const ticket = data.ticket;
    const me = Console.state.me;
    document.getElementById("ticket-number").textContent = ticket.number;
    document.title = `${ticket.number} · ${t("title")}`;

    const log = document.getElementById("transcript");
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    clear(log);
    for (const m of data.messages) log.append(message(m));
    if (atBottom || !log.dataset.rendered) log.scrollTop = log.scrollHeight;
    log.dataset.rendered = "1";
    const more = document.getElementById("transcript-more");
    more.hidden = data.message_count <= data.messages.length;
    more.textContent = t("ticket.earlier_messages") + data.message_count;

    const heldByOther = ticket.holder_id && ticket.holder_id !== me.id;
    document.getElementById("holder").textContent = ticket.holder || t("ticket.nobody");
    document.getElementById("holder").dataset.holderId = ticket.holder_id || "";
    const claim = document.getElementById("claim");
    claim.hidden = data.taken_by_me || !ticket.linked || !OPEN.includes(ticket.status);
    claim.disabled = Boolean(heldByOther);
    document.getElementById("release").hidden = !data.taken_by_me;
    document.getElementById("force-release").hidden = !(heldByOther && (me.role === "supervisor" || me.role === "admin"));

    const w = data.window;
    const windowBox = document.getElementById("window-state");
    windowBox.dataset.open = String(w.open);
    windowBox.dataset.outcome = w.outcome;
    windowBox.textContent = !w.limited ? t("window.unlimited")
      : w.open ? `${t("window.open")} (${t("window.closes")} ${fmtTime(w.closes_at)})`
      : t(w.outcome === "template" ? "window.closed_template" : "window.closed_parked");

    document.getElementById("reply-send").disabled = Boolean(heldByOther);
    const isOpen = OPEN.includes(ticket.status);
    document.getElementById("resolve").disabled = !isOpen;
    document.getElementById("resolve-box").hidden = !isOpen;
    const closable = ticket.status === "resolved" || ticket.status === "feedback";
    document.getElementById("close-box").hidden = !closable;
    document.getElementById("note-add").disabled = !ticket.linked;
    document.getElementById("transfer-box").hidden = !(ticket.linked && isOpen);

    const canned = document.getElementById("canned");
    clear(canned);
    canned.append(el("option", { value: "" }, t("actions.canned_pick")));
    for (const reply of data.canned) canned.append(el("option", { value: reply.id }, reply.title));

    document.getElementById("ticket-status").textContent = t("status." + ticket.status);
    fillSelect(document.getElementById("category"), CATEGORIES, (c) => t("category." + c), ticket.category);
    fillSelect(document.getElementById("priority"), PRIORITIES, (p) => p, ticket.priority);
    document.getElementById("ticket-department").textContent = ticket.department || t("ticket.none");
    document.getElementById("ticket-assignee").textContent = ticket.assignee || t("ticket.nobody");
    sla(document.getElementById("sla-first"), ticket.first_response_due, ticket.first_response_at, ticket.first_response_breached, ticket.first_response_due_estimated);
    sla(document.getElementById("sla-resolution"), ticket.resolution_due, ticket.resolved_at, ticket.resolution_breached, ticket.resolution_due_estimated);

    const details = document.getElementById("details");
    clear(details);
    for (const [key, value] of Object.entries(ticket.details)) {
      const shown = revealed && revealed.details[key] !== undefined ? revealed.details[key] : value;
      details.append(el("dt", { text: key }), el("dd", { dataset: { slot: key }, text: typeof shown === "string" ? shown : JSON.stringify(shown) }));
    }
    if (ticket.evidence_count) details.append(el("dt", { text: t("ticket.evidence") }), el("dd", { text: ticket.evidence_count }));

    const history = document.getElementById("history");
    clear(history);
    for (const e of ticket.events) {
      const label = Object.prototype.hasOwnProperty.call(Console.state.texts, "console.events." + e.kind) ? t("events." + e.kind) : e.kind;
      const shown = (v) => (Object.prototype.hasOwnProperty.call(Console.state.texts, "console.status." + v) ? t("status." + v)
        : Object.prototype.hasOwnProperty.call(Console.state.texts, "category." + v) ? t("category." + v) : v);
      const change = e.before !== e.after && e.before && e.after ? ` ${shown(e.before)} → ${shown(e.after)}` : "";
      history.append(
        el(
          "li",
          { dataset: { kind: e.kind } },
          el("time", { class: "when", datetime: e.at, text: fmtTime(e.at) }),
          `${label}${change} · ${e.actor}`,
          e.text ? el("span", { class: "note-text", text: revealed && revealed.events[e.id] !== undefined ? revealed.events[e.id] : e.text }) : null,
        ),
      );
    }

    const client = data.client;
    document.getElementById("client-name").textContent = client.name || t("ticket.none");
    document.getElementById("client-company").textContent = client.company || t("ticket.none");
    document.getElementById("client-tier").textContent = client.tier;
    document.getElementById("client-phone").textContent = (revealed ? revealed.phone : client.phone) || t("ticket.none");
    document.getElementById("client-email").textContent = (revealed ? revealed.email : client.email) || t("ticket.none");
    document.getElementById("client-channels").textContent = client.channels.map((c) => t("channel." + c)).join(" · ");
    const reveal = document.getElementById("reveal");
    // Messages that arrived after the reveal are masked again until it is pressed again.
    const fresh = revealed && data.messages.some((m) => m.masked && revealed.messages[m.id] === undefined);
    reveal.disabled = Boolean(revealed) && !fresh;
    reveal.textContent = revealed && !fresh ? t("ticket.revealed") : t("ticket.reveal");
    const earlier = document.getElementById("earlier");
    clear(earlier);
    for (const old of client.earlier) {
      earlier.append(
        el("li", {}, el("a", { href: "/console/tickets/" + encodeURIComponent(old.number), text: old.number }), ` ${t("status." + old.status)} · ${t("category." + old.category)} · ${old.title}`),
      );
    }
    document.getElementById("page").hidden = false;
    document.body.dataset.loaded = String(Date.now());
  }

  async function load() {
    const res = await api("GET", base);
    if (!res.ok) {
      flash(Console.errorText(res.status, res.data));
      return false;
    }
    render(res.data);
    return true;
  }

  const refresh = debounce(load, 200);

  // Run an action; on success say so and reload, on failure show why (who holds it, what is missing).
  async function act(button, path, body, after) {
    button.disabled = true;
    try {
      const res = await api("POST", base + path, body);
      if (!res.ok) {
        flash(Console.errorText(res.status, res.data));
        if (res.status === 409) await load();
        return false;
      }
      flash(t("ticket.saved"), "ok");
      if (after) after(res.data);
      await load();
      return true;
    } finally {
      button.disabled = false;
    }
  }

  function wire() {
    const byId = (id) => document.getElementById(id);
    byId("claim").addEventListener("click", (e) => act(e.currentTarget, "/claim"));
    byId("release").addEventListener("click", (e) => act(e.currentTarget, "/release"));
    byId("force-release").addEventListener("click", (e) => act(e.currentTarget, "/release", { force: true }));
    const send = async () => {
      const text = byId("reply-text").value.trim();
      if (!text) return;
      await act(byId("reply-send"), "/reply", { text, await_client: byId("await-client").checked }, () => {
        byId("reply-text").value = "";
        byId("await-client").checked = false;
      });
    };
    byId("reply-send").addEventListener("click", send);
    byId("reply-text").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        send();
      }
    });
    byId("canned").addEventListener("change", (event) => {
      const reply = current && current.canned.find((c) => c.id === event.target.value);
      if (reply) {
        const box = byId("reply-text");
        box.value = box.value ? box.value + "\n" + reply.text : reply.text;
        box.focus();
      }
      event.target.value = "";
    });
    byId("note-add").addEventListener("click", (e) => {
      const text = byId("note-text").value.trim();
      if (text) act(e.currentTarget, "/note", { text }, () => { byId("note-text").value = ""; });
    });
    byId("transfer-department-go").addEventListener("click", (e) => {
      const code = byId("transfer-department").value;
      if (code) act(e.currentTarget, "/transfer", { department_code: code });
    });
    byId("transfer-user-go").addEventListener("click", (e) => {
      const id = Number(byId("transfer-user").value);
      if (id) act(e.currentTarget, "/transfer", { to_user_id: id });
    });
    byId("resolve").addEventListener("click", (e) => {
      const solution = byId("solution").value.trim();
      if (!solution) { byId("solution").focus(); return; }
      act(e.currentTarget, "/resolve", { solution }, () => { byId("solution").value = ""; });
    });
    byId("close").addEventListener("click", (e) => {
      const rootCause = byId("root-cause").value.trim();
      const improvement = byId("improvement").value.trim();
      act(e.currentTarget, "/close", { root_cause: rootCause, improvement });
    });
    byId("category-save").addEventListener("click", (e) => act(e.currentTarget, "/category", { category: byId("category").value }));
    byId("priority-save").addEventListener("click", (e) => act(e.currentTarget, "/priority", { priority: byId("priority").value }));
    byId("reveal").addEventListener("click", async (e) => {
      const res = await api("POST", base + "/reveal");
      if (!res.ok) { flash(Console.errorText(res.status, res.data)); return; }
      revealed = res.data;
      render(current);
      e.currentTarget.focus();
    });
  }

  async function directory() {
    const res = await api("GET", "/console/api/directory");
    if (!res.ok) return;
    const dept = document.getElementById("transfer-department");
    clear(dept);
    dept.append(el("option", { value: "" }, t("actions.transfer_department")));
    for (const d of res.data.departments) dept.append(el("option", { value: d.code }, d.name));
    const users = document.getElementById("transfer-user");
    clear(users);
    users.append(el("option", { value: "" }, t("actions.transfer_user")));
    for (const u of res.data.users) if (u.id !== Console.state.me.id) users.append(el("option", { value: u.id }, `${u.name} (${t("roles." + u.role)})`));
  }

  async function main() {
    try {
      await Console.boot();
    } catch (_) {
      return;
    }
    wire();
    if (!(await load())) return;
    directory();
    Console.live((kind, data) => {
      if (kind === "ready" || !current) return;
      if (data.conversation_id === current.conversation_id || data.ticket_number === number) refresh();
    });
    setInterval(() => current && render(current), 30000);  // countdowns
  }

  main();
})();
