/* kefu web chat: renders the transcript from /api/chat/history and the /api/chat/events stream. */
(function () {
  "use strict";

  var LANG_KEY = "kefu.web.lang";
  var SEND_RETRIES = 4; // attempts after the first one, with exponential backoff
  var SEND_BACKOFF_MS = 600;
  var RECONNECT_MAX_MS = 30000;
  var STICKY_PX = 96; // "near the bottom" when deciding whether to follow new messages

  var state = {
    texts: null,
    lang: null,
    languages: [],
    ready: false,
    lastId: 0,
    latestOutId: 0,
    lockedOutId: 0, // the outbound message whose buttons were just used
    rendered: new Map(), // message id -> <li>
    pending: [], // own messages not yet seen in the transcript, in send order
    pumping: false,
    source: null,
    reconnectDelay: 1000,
    reconnectTimer: null,
    connection: "connecting",
  };

  var el = {};

  // ---------------------------------------------------------------- helpers

  function $(id) {
    return document.getElementById(id);
  }

  function t(key) {
    return (state.texts && typeof state.texts[key] === "string") ? state.texts[key] : "";
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      try { return window.crypto.randomUUID(); } catch (e) { /* insecure context: fall through */ }
    }
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function node(tag, className, text) {
    var n = document.createElement(tag);
    if (className) n.className = className;
    if (text !== undefined && text !== null) n.textContent = String(text); // never innerHTML
    return n;
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (res) {
        if (!res.ok) throw new Error(url + " answered " + res.status);
        return res.json();
      });
  }

  function storedLang() {
    try { return window.localStorage.getItem(LANG_KEY); } catch (e) { return null; }
  }

  function storeLang(lang) {
    try { window.localStorage.setItem(LANG_KEY, lang); } catch (e) { /* private mode */ }
  }

  function htmlLang(lang) {
    return lang === "zh" ? "zh-CN" : lang;
  }

  function formatTime(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "";
    var loc = htmlLang(state.lang || "zh");
    var opts = { hour: "2-digit", minute: "2-digit", hour12: false };
    var now = new Date();
    if (d.toDateString() !== now.toDateString()) {
      opts.month = "numeric";
      opts.day = "numeric";
    }
    try { return d.toLocaleString(loc, opts); } catch (e) { return d.toISOString().slice(11, 16); }
  }

  function nearBottom() {
    var log = el.log;
    return log.scrollHeight - log.scrollTop - log.clientHeight < STICKY_PX;
  }

  function scrollToBottom() {
    el.log.scrollTop = el.log.scrollHeight;
  }

  // ---------------------------------------------------------------- texts and language

  function applyTexts() {
    document.documentElement.lang = htmlLang(state.lang);
    document.title = t("title");
    el.title.textContent = t("title");
    el.subtitle.textContent = t("subtitle");
    el.input.placeholder = t("placeholder");
    el.inputLabel.textContent = t("placeholder");
    el.sendText.textContent = t("send");
    el.send.setAttribute("aria-label", t("send"));
    var other = otherLanguage();
    el.lang.hidden = !other;
    el.lang.textContent = t("language");
    if (other) el.lang.setAttribute("lang", htmlLang(other));
    Array.prototype.forEach.call(document.querySelectorAll(".msg-sender"), function (s) {
      s.textContent = s.getAttribute("data-direction") === "out" ? t("bot") : t("you");
    });
    Array.prototype.forEach.call(document.querySelectorAll(".msg-retry"), function (b) {
      b.textContent = t("failed");
    });
    setConnection(state.connection);
  }

  function otherLanguage() {
    for (var i = 0; i < state.languages.length; i++) {
      if (state.languages[i] !== state.lang) return state.languages[i];
    }
    return null;
  }

  function loadConfig(lang) {
    var url = "/api/chat/config" + (lang ? "?lang=" + encodeURIComponent(lang) : "");
    return getJSON(url).then(function (cfg) {
      state.texts = cfg.texts || {};
      state.lang = cfg.lang;
      state.languages = Array.isArray(cfg.languages) ? cfg.languages : [];
      applyTexts();
    });
  }

  function switchLanguage() {
    var next = otherLanguage();
    if (!next) return;
    el.lang.disabled = true;
    loadConfig(next).then(function () {
      storeLang(state.lang);
    }).catch(function (err) {
      console.warn("kefu: language switch failed", err);
    }).then(function () {
      el.lang.disabled = false;
    });
  }

  // ---------------------------------------------------------------- connection state

  function setConnection(kind) {
    state.connection = kind;
    el.status.setAttribute("data-state", kind);
    el.statusDot.setAttribute("data-state", kind);
    var text = kind === "connecting" ? t("connecting") : kind === "offline" ? t("offline") : "";
    if (el.statusText.textContent !== text) el.statusText.textContent = text;
  }

  function connect() {
    if (state.reconnectTimer) {
      clearTimeout(state.reconnectTimer);
      state.reconnectTimer = null;
    }
    if (state.source) state.source.close();
    if (state.connection !== "online") setConnection(state.connection === "offline" ? "offline" : "connecting");
    var source = new EventSource("/api/chat/events?after=" + state.lastId);
    state.source = source;
    source.addEventListener("open", function () {
      if (state.source !== source) return;
      state.reconnectDelay = 1000;
      setConnection("online");
    });
    source.addEventListener("message", function (ev) {
      if (state.source !== source) return;
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      addMessage(msg, true);
    });
    source.addEventListener("error", function () {
      if (state.source !== source) return;
      setConnection("offline");
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (an HTTP error rather than a dropped connection): retry ourselves.
        scheduleReconnect();
      }
    });
  }

  function scheduleReconnect() {
    if (state.reconnectTimer) return;
    var delay = state.reconnectDelay;
    state.reconnectDelay = Math.min(RECONNECT_MAX_MS, delay * 2);
    state.reconnectTimer = setTimeout(function () {
      state.reconnectTimer = null;
      // A lost cookie makes the stream answer 401; config hands out a fresh one.
      loadConfig(state.lang).catch(function () { /* the stream reports the outcome */ }).then(connect);
    }, delay + Math.random() * 300);
  }

  // ---------------------------------------------------------------- transcript

  function buildMessage(msg) {
    var out = msg.direction === "out";
    var li = node("li", "msg " + (out ? "msg-out" : "msg-in"));
    li.setAttribute("data-id", String(msg.id));
    li.setAttribute("data-direction", out ? "out" : "in");

    if (out) {
      var avatar = node("span", "msg-avatar");
      avatar.setAttribute("aria-hidden", "true");
      li.appendChild(avatar);
    }
    var body = node("div", "msg-body");
    var meta = node("div", "msg-meta");
    var sender = node("span", "msg-sender", out ? t("bot") : t("you"));
    sender.setAttribute("data-direction", out ? "out" : "in");
    meta.appendChild(sender);
    if (msg.created_at) {
      var time = node("time", "msg-time", formatTime(msg.created_at));
      time.setAttribute("datetime", msg.created_at);
      meta.appendChild(time);
    }
    body.appendChild(meta);

    var bubble = node("div", "msg-bubble");
    bubble.appendChild(node("p", "msg-text", msg.text || "")); // white-space: pre-wrap keeps "\n"
    if (Array.isArray(msg.attachments)) {
      msg.attachments.forEach(function (a) {
        var name = a && (a.name || a.filename);
        if (typeof name === "string" && name) bubble.appendChild(node("p", "msg-attachment", name));
      });
    }
    body.appendChild(bubble);

    if (out && Array.isArray(msg.buttons) && msg.buttons.length) {
      var group = node("div", "msg-actions");
      group.setAttribute("role", "group");
      msg.buttons.forEach(function (b) {
        if (!b || typeof b.label !== "string") return;
        var btn = node("button", "msg-button", b.label);
        btn.type = "button";
        btn.setAttribute("data-button-id", String(b.id));
        btn.disabled = true;
        btn.addEventListener("click", function () { onButton(msg.id, b, btn); });
        group.appendChild(btn);
      });
      body.appendChild(group);
    }
    li.appendChild(body);
    return li;
  }

  // Consecutive messages from one side form a group; a time already shown just above is not repeated.
  function regroup(li) {
    if (!li) return;
    var prev = li.previousElementSibling;
    var follow = !!prev && prev.getAttribute("data-direction") === li.getAttribute("data-direction");
    li.classList.toggle("msg-follow", follow);
    var time = li.querySelector(".msg-time");
    var prevTime = prev && prev.querySelector(".msg-time");
    li.classList.toggle("msg-sametime", !!time && !!prevTime && time.textContent === prevTime.textContent);
  }

  function addMessage(msg, live) {
    if (!msg || typeof msg.id !== "number") return;
    if (state.rendered.has(msg.id)) return; // history and stream overlap: first one wins
    var stick = nearBottom();
    var li = buildMessage(msg);
    state.rendered.set(msg.id, li);

    // Keep the list ordered by id; almost always an append.
    var list = el.messages;
    var before = null;
    var last = list.lastElementChild;
    if (last && Number(last.getAttribute("data-id")) > msg.id) {
      before = list.firstElementChild;
      while (before && Number(before.getAttribute("data-id")) < msg.id) before = before.nextElementSibling;
    }
    list.insertBefore(li, before);
    regroup(li);
    regroup(li.nextElementSibling);

    if (msg.id > state.lastId) state.lastId = msg.id;
    if (msg.direction === "out" && msg.id > state.latestOutId) state.latestOutId = msg.id;
    if (msg.direction === "in") settlePending(msg);
    updateButtons();
    if (stick || (live && msg.direction === "in")) scrollToBottom();
  }

  // Only the buttons of the latest outbound message can be used.
  function updateButtons() {
    state.rendered.forEach(function (li, id) {
      if (li.getAttribute("data-direction") !== "out") return;
      var active = id === state.latestOutId && id !== state.lockedOutId;
      li.classList.toggle("msg-current", id === state.latestOutId);
      Array.prototype.forEach.call(li.querySelectorAll(".msg-button"), function (btn) {
        btn.disabled = !active || !state.ready;
      });
    });
  }

  function onButton(outId, button, btn) {
    if (outId !== state.latestOutId || outId === state.lockedOutId) return;
    state.lockedOutId = outId;
    btn.classList.add("msg-button-chosen");
    btn.setAttribute("aria-pressed", "true");
    updateButtons();
    el.input.focus();
    queueSend(button.label, String(button.id));
  }

  // ---------------------------------------------------------------- sending

  function queueSend(text, buttonId) {
    var p = {
      clientId: uuid(),
      text: text,
      buttonId: buttonId || null,
      state: "queued",
      messageId: null,
      attempted: false,
      li: null,
    };
    p.li = buildPending(p);
    el.pendingList.appendChild(p.li);
    state.pending.push(p);
    scrollToBottom();
    pump();
  }

  function buildPending(p) {
    var li = node("li", "msg msg-in msg-pending");
    li.setAttribute("data-pending", p.clientId);
    li.setAttribute("data-direction", "in");
    li.setAttribute("aria-busy", "true");
    var body = node("div", "msg-body");
    var meta = node("div", "msg-meta");
    var sender = node("span", "msg-sender", t("you"));
    sender.setAttribute("data-direction", "in");
    meta.appendChild(sender);
    body.appendChild(meta);
    var bubble = node("div", "msg-bubble");
    bubble.appendChild(node("p", "msg-text", p.text));
    body.appendChild(bubble);
    var status = node("div", "msg-state");
    var spinner = node("span", "msg-spinner");
    spinner.setAttribute("aria-hidden", "true");
    status.appendChild(spinner);
    body.appendChild(status);
    li.appendChild(body);
    return li;
  }

  function renderPendingState(p) {
    var status = p.li.querySelector(".msg-state");
    while (status.firstChild) status.removeChild(status.firstChild);
    p.li.classList.toggle("msg-failed", p.state === "failed");
    if (p.state === "failed") {
      p.li.removeAttribute("aria-busy");
      var retry = node("button", "msg-retry", t("failed"));
      retry.type = "button";
      retry.addEventListener("click", function () {
        if (p.state !== "failed") return;
        p.state = "queued";
        renderPendingState(p);
        pump();
      });
      status.appendChild(retry);
    } else {
      p.li.setAttribute("aria-busy", "true");
      var spinner = node("span", "msg-spinner");
      spinner.setAttribute("aria-hidden", "true");
      status.appendChild(spinner);
    }
  }

  function removePending(p) {
    p.state = "done";
    var i = state.pending.indexOf(p);
    if (i >= 0) state.pending.splice(i, 1);
    if (p.li && p.li.parentNode) p.li.parentNode.removeChild(p.li);
  }

  // A stored inbound message arrived: retire the local bubble it stands for.
  function settlePending(msg) {
    var match = null;
    for (var i = 0; i < state.pending.length; i++) {
      if (state.pending[i].messageId === msg.id) { match = state.pending[i]; break; }
    }
    if (!match) {
      for (var j = 0; j < state.pending.length; j++) {
        var p = state.pending[j];
        if (p.attempted && p.messageId === null && p.text.trim() === String(msg.text || "").trim()) {
          match = p;
          break;
        }
      }
    }
    if (match) removePending(match);
  }

  // Sends queued messages one at a time, in order; a message that finally failed holds back the rest.
  function pump() {
    if (state.pumping) return;
    state.pumping = true;
    (function next() {
      var p = null;
      for (var i = 0; i < state.pending.length; i++) {
        var s = state.pending[i].state;
        if (s === "failed" || s === "sending") break;
        if (s === "queued") { p = state.pending[i]; break; }
      }
      if (!p) {
        state.pumping = false;
        return;
      }
      sendOne(p).then(next, next);
    })();
  }

  function post(p) {
    var body = { client_msg_id: p.clientId, text: p.text, lang: state.lang };
    if (p.buttonId) body.button_id = p.buttonId;
    return fetch("/api/chat/messages", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
  }

  function sendOne(p) {
    p.state = "sending";
    renderPendingState(p);
    var attempt = 0;
    function tryOnce() {
      p.attempted = true;
      return post(p).then(function (res) {
        if (res.ok) {
          return res.json().then(function (data) {
            if (p.state === "done") return; // the stream already brought it
            var id = data && typeof data.message_id === "number" ? data.message_id : null;
            if (id !== null && state.rendered.has(id)) {
              removePending(p);
              return;
            }
            p.messageId = id;
            p.state = "sent";
            renderPendingState(p);
            if (!state.source || state.source.readyState !== EventSource.OPEN) refreshHistory();
          }, function () {
            p.state = "sent";
          });
        }
        if (res.status === 429) {
          // Too many messages: show the server's polite note and retry once its wait is over.
          return res.json().then(function (data) {
            if (data && data.text) flashNotice(data.text);
            var wait = data && typeof data.retry_after === "number" ? data.retry_after : 5;
            throw { wait: wait * 1000 };
          });
        }
        var retryable = res.status >= 500 || res.status === 408;
        if (!retryable) {
          return res.text().then(function (body) {
            console.warn("kefu: message rejected", res.status, body);
            throw { fatal: true };
          });
        }
        throw new Error("HTTP " + res.status);
      }).catch(function (err) {
        if (p.state === "done") return;
        if (err && err.fatal) return fail(p);
        if (attempt >= SEND_RETRIES) return fail(p);
        var delay = (err && err.wait) || SEND_BACKOFF_MS * Math.pow(2, attempt) + Math.random() * 250;
        attempt += 1;
        return sleep(delay).then(function () {
          if (p.state === "done") return;
          return tryOnce();
        });
      });
    }
    return tryOnce();
  }

  function flashNotice(text) {
    el.statusText.textContent = text;
  }

  function fail(p) {
    p.state = "failed";
    renderPendingState(p);
    if (state.lockedOutId && p.buttonId) {
      // The button press did not get through; offer the buttons again.
      state.lockedOutId = 0;
      Array.prototype.forEach.call(document.querySelectorAll(".msg-button-chosen"), function (b) {
        b.classList.remove("msg-button-chosen");
        b.removeAttribute("aria-pressed");
      });
      updateButtons();
    }
  }

  function refreshHistory() {
    return getJSON("/api/chat/history").then(function (data) {
      (data.messages || []).forEach(function (m) { addMessage(m, false); });
    }).catch(function (err) {
      console.warn("kefu: history unavailable", err);
    });
  }

  // ---------------------------------------------------------------- composer

  function autosize() {
    el.input.style.height = "auto";
    el.input.style.height = Math.min(el.input.scrollHeight, 160) + "px";
  }

  function submit() {
    if (!state.ready) return;
    var text = el.input.value;
    if (!text.trim()) return;
    el.input.value = "";
    autosize();
    queueSend(text.replace(/\s+$/, ""), null);
  }

  function bindComposer() {
    el.form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      submit();
      el.input.focus();
    });
    el.input.addEventListener("keydown", function (ev) {
      // Enter sends, Shift+Enter is a new line; never while an input method is composing (pinyin).
      if (ev.key !== "Enter" || ev.shiftKey || ev.isComposing || ev.keyCode === 229) return;
      ev.preventDefault();
      submit();
    });
    el.input.addEventListener("input", autosize);
    el.lang.addEventListener("click", switchLanguage);
  }

  // ---------------------------------------------------------------- start-up

  function start() {
    el.chat = $("chat");
    el.title = $("chat-title");
    el.subtitle = $("chat-subtitle");
    el.status = $("chat-status");
    el.statusText = $("chat-status-text");
    el.statusDot = $("chat-status-dot");
    el.lang = $("chat-lang");
    el.log = $("chat-log");
    el.messages = $("chat-messages");
    el.pendingList = $("chat-pending");
    el.form = $("chat-form");
    el.input = $("chat-input");
    el.inputLabel = $("chat-input-label");
    el.send = $("chat-send");
    el.sendText = $("chat-send-text");

    setConnection("connecting");
    bindComposer();
    setReady(false);

    var delay = 1000;
    (function boot() {
      loadConfig(storedLang()).then(function () {
        return refreshHistory();
      }).then(function () {
        setReady(true);
        scrollToBottom();
        connect();
      }).catch(function (err) {
        console.warn("kefu: start-up failed, retrying", err);
        setConnection("offline");
        setTimeout(boot, delay);
        delay = Math.min(RECONNECT_MAX_MS, delay * 2);
      });
    })();

    window.addEventListener("online", function () {
      if (state.ready && (!state.source || state.source.readyState === EventSource.CLOSED)) connect();
    });
    window.addEventListener("pageshow", function (ev) {
      // Back from the back/forward cache: the stream was closed while the page was frozen.
      if (ev.persisted && state.ready) connect();
    });
    window.addEventListener("offline", function () {
      if (state.ready) setConnection("offline");
    });
  }

  function setReady(ready) {
    state.ready = ready;
    el.chat.setAttribute("aria-busy", ready ? "false" : "true");
    el.input.disabled = !ready;
    el.send.disabled = !ready;
    updateButtons();
    if (ready) el.input.focus({ preventScroll: true });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
