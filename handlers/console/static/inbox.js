// The inbox: queues with counts, a page of tickets, search, and live refresh.
"use strict";

(() => {
  const { t, el, clear, api, flash, fmtTime, countdown, debounce } = Console;
  const QUEUES = ["waiting", "mine", "department", "sla", "feedback"];
  const view = { queue: sessionStorage.getItem("kefu.queue") || "waiting", q: "", page: 0, touched: new Set() };

  function queueTabs(counts) {
    const list = document.getElementById("queues");
    clear(list);
    for (const queue of QUEUES) {
      const selected = !view.q && view.queue === queue;
      const button = el(
        "button",
        {
          type: "button",
          class: "queue",
          id: "queue-" + queue,
          role: "tab",
          "aria-selected": selected ? "true" : "false",
          onclick: () => {
            view.queue = queue;
            view.q = "";
            view.page = 0;
            document.getElementById("search").value = "";
            sessionStorage.setItem("kefu.queue", queue);
            load();
          },
        },
        el("span", { text: t("queues." + queue) }),
        el("span", { class: "count", text: counts[queue] ?? 0 }),
      );
      list.append(el("li", {}, button));
    }
  }

  function row(item) {
    const badges = [el("span", { class: "badge " + item.priority.toLowerCase(), text: item.priority })];
    if (item.waiting && !item.holder) badges.push(el("span", { class: "badge waiting", text: t("inbox.waiting_badge") }));
    if (item.breached) badges.push(el("span", { class: "badge overdue", text: t("inbox.breached") }));
    let due = null;
    if (item.paused) due = el("span", { class: "badge", text: t("inbox.paused") });
    else if (item.deadline && ["received", "classified", "investigating"].includes(item.status)) {
      const left = countdown(item.deadline);
      due = el("span", { class: left.over ? "badge overdue" : "badge" }, (left.over ? t("inbox.overdue") + " " : t("inbox.due") + " ") + left.text + (item.deadline_estimated ? ` (${t("ticket.sla_estimated")})` : ""));
    }
    const who = [item.client, item.company].filter(Boolean).join(" · ");
    const meta = [
      t("status." + item.status),
      t("category." + item.category),
      t("channel." + item.channel),
      item.department || "",
      item.holder ? t("inbox.held_by") + item.holder : (item.assignee || ""),
    ].filter(Boolean).join(" · ");
    const link = el(
      "a",
      { href: "/console/tickets/" + encodeURIComponent(item.number) },
      el("span", { class: "number", text: item.number }),
      el("span", { class: "title", text: who ? `${who}: ${item.title}` : item.title }),
      el("span", {}, badges, due),
      el("span", { class: "meta", text: meta }),
      item.last_text ? el("span", { class: "preview", text: `${fmtTime(item.last_at)}  ${item.last_text}` }) : null,
    );
    return el(
      "li",
      { class: "ticket-row", dataset: { number: item.number, conversation: item.conversation_id, updated: view.touched.has(item.conversation_id) ? "true" : "false" } },
      link,
    );
  }

  async function load() {
    const params = new URLSearchParams({ queue: view.queue, page: String(view.page) });
    if (view.q) params.set("q", view.q);
    const res = await api("GET", "/console/api/inbox?" + params.toString());
    if (!res.ok) {
      flash(Console.errorText(res.status, res.data));
      return;
    }
    queueTabs(res.data.counts);
    const unstaffed = document.getElementById("unstaffed");
    const names = (res.data.unstaffed || []).map((d) => `${d.name} (${d.code}): ${d.open_tickets}`);
    unstaffed.textContent = names.length ? `${Console.t("inbox.unstaffed")} ${names.join("；")}` : "";
    unstaffed.hidden = names.length === 0;
    const list = document.getElementById("inbox-list");
    clear(list);
    for (const item of res.data.items) list.append(row(item));
    document.getElementById("inbox-empty").hidden = res.data.items.length > 0;
    document.getElementById("page-prev").hidden = view.page === 0;
    document.getElementById("page-next").hidden = !res.data.more;
    document.getElementById("search-clear").hidden = !view.q;
    document.body.dataset.loaded = String(Date.now());
  }

  const refresh = debounce(load, 250);

  async function main() {
    try {
      await Console.boot();
    } catch (_) {
      return;
    }
    document.getElementById("search-form").addEventListener("submit", (event) => {
      event.preventDefault();
      view.q = document.getElementById("search").value.trim();
      view.page = 0;
      load();
    });
    document.getElementById("search-clear").addEventListener("click", () => {
      view.q = "";
      document.getElementById("search").value = "";
      load();
    });
    document.getElementById("page-prev").addEventListener("click", () => { view.page = Math.max(0, view.page - 1); load(); });
    document.getElementById("page-next").addEventListener("click", () => { view.page += 1; load(); });
    // "/" jumps to search, as in most consoles.
    document.addEventListener("keydown", (event) => {
      if (event.key === "/" && document.activeElement.tagName !== "INPUT" && document.activeElement.tagName !== "TEXTAREA") {
        event.preventDefault();
        document.getElementById("search").focus();
      }
    });
    await load();
    Console.live((kind, data) => {
      if (kind === "ready") return;
      if (data.conversation_id) view.touched.add(data.conversation_id);
      refresh();
    });
    setInterval(load, 60000);  // countdowns and anything a lost stream missed
  }

  main();
})();
