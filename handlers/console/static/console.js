// Shared code of the console pages. Client data is only ever set as textContent, never parsed as HTML.
"use strict";

// Every console form is sent by its page's script, which takes it over once the page has started (who is signed in,
// the texts). Until then pressing Enter must not send the form the browser's way, reloading the page and losing
// what was typed: the press does nothing, and works once the page is ready.
document.addEventListener("submit", (event) => event.preventDefault(), true);

const Console = (() => {
  const state = { me: null, texts: {}, csrf: "", languages: [], skew: 0 };

  function t(key) {
    return Object.prototype.hasOwnProperty.call(state.texts, "console." + key)
      ? state.texts["console." + key]
      : (state.texts[key] || key);
  }

  // el("li", {class: "x", dataset: {id: 1}}, "text", otherNode): strings become text nodes.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "dataset") Object.assign(node.dataset, value);
      else if (name === "text") node.textContent = String(value);
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (value === true) node.setAttribute(name, "");
      else node.setAttribute(name, String(value));
    }
    // Any depth: a list of [link, " "] pairs must come out as nodes, not as "[object HTMLAnchorElement]".
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function flash(message, kind) {
    const box = document.getElementById("flash");
    if (!box) return;
    box.textContent = message;
    box.dataset.kind = kind || "error";
    box.hidden = !message;
    if (kind === "ok") setTimeout(() => { if (box.textContent === message) box.hidden = true; }, 2500);
  }

  function errorText(status, data) {
    const code = data && data.error;
    if (status === 401) return t("error_login_required");
    if (code === "csrf") return t("error_csrf");
    if (code === "taken") return t("error_held") + (data.holder_name || "");
    if (status === 403) return t("error_forbidden");
    if (status === 404) return t("error_not_found");
    return t("error") + (code ? ": " + code : "");
  }

  async function api(method, path, body) {
    const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (method !== "GET") {
      options.headers["Content-Type"] = "application/json";
      options.headers["X-CSRF-Token"] = state.csrf;
      options.body = JSON.stringify(body || {});
    }
    const response = await fetch(path, options);
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (response.status === 401) {
      location.assign("/console/login?next=" + encodeURIComponent(location.pathname));
    }
    return { ok: response.ok, status: response.status, data };
  }

  function now() {
    return new Date(Date.now() + state.skew);
  }

  function fmtTime(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  // "2h 05m" until (positive) or since (negative) the deadline.
  function countdown(iso) {
    const ms = new Date(iso).getTime() - now().getTime();
    const total = Math.floor(Math.abs(ms) / 60000);
    const h = Math.floor(total / 60);
    const m = total % 60;
    return { over: ms < 0, text: (h ? `${h}h ` : "") + `${String(m).padStart(2, "0")}m` };
  }

  function applyTexts(root) {
    for (const node of (root || document).querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
    for (const node of (root || document).querySelectorAll("[data-t-placeholder]")) {
      node.setAttribute("placeholder", t(node.dataset.tPlaceholder));
    }
    for (const node of (root || document).querySelectorAll("[data-t-label]")) {
      node.setAttribute("aria-label", t(node.dataset.tLabel));
    }
  }

  // The console's pages, in the order of the header's links, and the roles that may open each.
  const PAGES = [
    { page: "inbox", href: "/console", text: "nav.inbox", roles: null },
    { page: "phone", href: "/console/phone", text: "phone.nav", roles: null },
    { page: "reports", href: "/console/reports", text: "reports.nav", roles: ["supervisor", "admin"] },
    { page: "archive", href: "/console/reports/archive", text: "reports.archive", roles: ["supervisor", "admin"] },
    { page: "client_eval", href: "/console/client-evaluation", text: "client_eval.nav", roles: ["supervisor", "admin"] },
    { page: "admin", href: "/console/admin", text: "nav.admin", roles: ["supervisor", "admin"] },
    { page: "keywords", href: "/console/keywords", text: "keywords.nav", roles: ["admin"] },
    { page: "settings", href: "/console/settings", text: "settings.nav", roles: ["admin"] },
  ];

  function navigation(nav, role) {
    const current = nav.dataset.page;
    for (const item of PAGES) {
      // Links to pages a role may not open are left out; the server refuses those pages anyway.
      if (item.roles && !item.roles.includes(role)) continue;
      // From a ticket, the inbox link reads "back to the inbox".
      const text = current === "ticket" && item.page === "inbox" ? "ticket.back" : item.text;
      const link = el("a", { href: item.href, id: `nav-${item.page}`, text: t(text) });
      if (item.page === current) link.setAttribute("aria-current", "page");
      nav.append(link);
    }
  }

  function header() {
    const me = state.me;
    const who = document.getElementById("who");
    who.textContent = `${me.name} · ${t("roles." + me.role)}`;
    // Everyone's own account page (password change), reached from their name in the header.
    who.after(el("a", { href: "/console/account", id: "account-link", text: t("account.nav") }));
    const nav = document.querySelector("nav[data-page]");
    if (nav) navigation(nav, me.role);
    const lang = document.getElementById("lang");
    lang.textContent = t("language");
    lang.addEventListener("click", async () => {
      const next = state.me.language === "zh" ? "en" : "zh";
      const res = await api("POST", "/console/api/language", { language: next });
      if (res.ok) location.reload();
    });
    document.getElementById("logout").addEventListener("click", async () => {
      await api("POST", "/console/logout");
      location.assign("/console/login");
    });
  }

  // Banners the server raises for this user (an admin hears when the holiday calendar runs out).
  function notices(items) {
    const top = document.querySelector("header.topbar");
    if (!top) return;
    for (const item of items) {
      top.after(el("p", { class: "banner", role: "status", dataset: { notice: item.kind }, text: item.text }));
    }
  }

  async function boot() {
    const res = await api("GET", "/console/api/me");
    if (!res.ok) throw new Error("not signed in");
    state.me = res.data.user;
    state.texts = res.data.texts;
    state.csrf = res.data.csrf;
    state.languages = res.data.languages;
    state.skew = new Date(res.data.now).getTime() - Date.now();
    document.documentElement.lang = state.me.language === "zh" ? "zh-CN" : "en";
    applyTexts();
    header();
    notices(res.data.notices || []);
    return state.me;
  }

  // Server-Sent Events; `onEvent(kind, data)`; reconnects on its own (EventSource does).
  function live(onEvent) {
    const dot = document.getElementById("live");
    const source = new EventSource("/console/api/events");
    const kinds = ["ready", "message", "escalated", "claimed", "released", "note", "transferred", "ticket", "sla"];
    for (const kind of kinds) {
      source.addEventListener(kind, (event) => {
        let data = {};
        try { data = JSON.parse(event.data); } catch (_) { data = {}; }
        if (kind === "ready") {
          dot.dataset.state = "on";
          dot.title = t("live_on");
        }
        onEvent(kind, data);
      });
    }
    source.onerror = () => {
      dot.dataset.state = "off";
      dot.title = t("live_off");
    };
    return source;
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
  }

  return { state, t, el, clear, flash, errorText, api, fmtTime, countdown, boot, live, debounce, now };
})();
