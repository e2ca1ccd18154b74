/* The embeddable chat widget: one script tag on an allowed site,
 *   <script src="https://<org host>/widget.js" data-widget="<public id>" async></script>
 * renders a chat bubble in a shadow root (the page's styles cannot reach it, nor its
 * ours). No cookie is used: the visitor's conversation is a signed token kept in the
 * site's localStorage. Answers stream (Server-Sent Events over fetch) with their
 * numbered sources. Plain ES2017, no dependency, nothing evaluated. */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-widget]");
  if (!script || !script.getAttribute("data-widget")) return;
  var publicId = script.getAttribute("data-widget");
  var base = new URL(script.src, location.href).origin;
  var api = base + "/api/v1/widget/" + encodeURIComponent(publicId);
  var storageKey = "assistant-widget:" + publicId;

  function token() { try { return localStorage.getItem(storageKey) || ""; } catch (e) { return ""; } }
  function keep(t) { try { if (t) localStorage.setItem(storageKey, t); } catch (e) { /* private mode */ } }
  function forget() { try { localStorage.removeItem(storageKey); } catch (e) { /* private mode */ } }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k.indexOf("on") === 0) node.addEventListener(k.slice(2), attrs[k]);
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  // A small, safe Markdown: the text is never parsed as HTML; only **bold**, *italic*,
  // `code`, [n] citations, bullet lines and paragraphs become elements.
  function markdown(text, container) {
    container.textContent = "";
    var list = null, para = null;
    text.split("\n").forEach(function (line) {
      var item = /^\s*([-*]|\d+\.)\s+(.*)$/.exec(line);
      if (item) {
        para = null;
        if (!list) { list = el("ul"); container.appendChild(list); }
        var li = el("li"); inline(item[2], li); list.appendChild(li);
      } else if (!line.trim()) {
        list = null; para = null;
      } else {
        list = null;
        if (!para) { para = el("p"); container.appendChild(para); } else para.appendChild(el("br"));
        inline(line, para);
      }
    });
  }
  function inline(line, target) {
    var pattern = /(\*\*[^*]+\*\*|\*[^*]+\*|`[^`]+`|\[\d+\])/g, last = 0, m;
    while ((m = pattern.exec(line))) {
      if (m.index > last) target.appendChild(document.createTextNode(line.slice(last, m.index)));
      var t = m[0];
      if (t.slice(0, 2) === "**") target.appendChild(el("strong", { text: t.slice(2, -2) }));
      else if (t[0] === "*") target.appendChild(el("em", { text: t.slice(1, -1) }));
      else if (t[0] === "`") target.appendChild(el("code", { text: t.slice(1, -1) }));
      else target.appendChild(el("sup", { "class": "cite", text: t }));
      last = m.index + t.length;
    }
    if (last < line.length) target.appendChild(document.createTextNode(line.slice(last)));
  }

  function icon() {
    var ns = "http://www.w3.org/2000/svg", svg = document.createElementNS(ns, "svg"), path = document.createElementNS(ns, "path");
    svg.setAttribute("viewBox", "0 0 24 24"); svg.setAttribute("width", "26"); svg.setAttribute("height", "26"); svg.setAttribute("aria-hidden", "true");
    path.setAttribute("fill", "currentColor");
    path.setAttribute("d", "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z");
    svg.appendChild(path);
    return svg;
  }

  function clip() {
    var ns = "http://www.w3.org/2000/svg", svg = document.createElementNS(ns, "svg"), path = document.createElementNS(ns, "path");
    svg.setAttribute("viewBox", "0 0 24 24"); svg.setAttribute("width", "18"); svg.setAttribute("height", "18"); svg.setAttribute("aria-hidden", "true");
    path.setAttribute("fill", "none"); path.setAttribute("stroke", "currentColor"); path.setAttribute("stroke-width", "2");
    path.setAttribute("stroke-linecap", "round");
    path.setAttribute("d", "M21 11.5l-8.6 8.6a5 5 0 0 1-7.1-7.1l8.6-8.6a3.3 3.3 0 0 1 4.7 4.7l-8.6 8.6a1.7 1.7 0 0 1-2.4-2.4l7.9-7.9");
    svg.appendChild(path);
    return svg;
  }

  var CSS = [
    ":host{all:initial}",
    ".w{position:fixed;bottom:20px;z-index:2147483000;font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#111827}",
    ".w.right{right:20px}.w.left{left:20px}",
    ".bubble{width:56px;height:56px;border-radius:50%;border:0;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);background:var(--c);color:var(--t);display:flex;align-items:center;justify-content:center;margin-left:auto}",
    ".w.left .bubble{margin-left:0}",
    ".panel{display:none;flex-direction:column;width:min(380px,calc(100vw - 24px));height:min(560px,calc(100vh - 100px));background:#fff;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.25);overflow:hidden;margin-bottom:12px}",
    ".open .panel{display:flex}",
    "header{display:flex;align-items:center;justify-content:space-between;padding:12px 14px;background:var(--c);color:var(--t);font-weight:600}",
    "header button{background:transparent;border:0;color:inherit;font-size:18px;cursor:pointer}",
    ".log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px}",
    ".msg{max-width:85%;padding:8px 11px;border-radius:10px;white-space:normal;word-wrap:break-word}",
    ".msg p,.msg ul{margin:0 0 6px}.msg p:last-child,.msg ul:last-child{margin-bottom:0}",
    ".user{align-self:flex-end;background:var(--c);color:var(--t)}",
    ".assistant{align-self:flex-start;background:#f3f4f6}",
    ".error{align-self:stretch;background:#fef2f2;color:#991b1b}",
    ".cite{color:#2563eb;font-weight:600}",
    ".sources{margin-top:6px;font-size:12px;color:#374151;border-top:1px solid #e5e7eb;padding-top:4px}",
    ".sources li{margin:2px 0}",
    ".feedback{margin-top:4px;display:flex;gap:4px;align-items:center;font-size:12px;color:#4b5563}.feedback button{border:1px solid #d1d5db;background:#fff;border-radius:6px;cursor:pointer;padding:1px 6px}",
    ".feedback button[aria-pressed=true]{background:#e0e7ff}",
    ".suggest{display:flex;flex-wrap:wrap;gap:6px;padding:0 12px 8px}",
    ".suggest button{border:1px solid var(--c);color:var(--c);background:#fff;border-radius:14px;padding:4px 10px;cursor:pointer;font:inherit;font-size:12px}",
    "form{display:flex;gap:6px;padding:10px;border-top:1px solid #e5e7eb}",
    "textarea{flex:1;resize:none;font:inherit;padding:8px;border:1px solid #d1d5db;border-radius:8px;min-height:20px;max-height:100px}",
    "form button{background:var(--c);color:var(--t);border:0;border-radius:8px;padding:0 14px;cursor:pointer;font:inherit}",
    "form button:disabled{opacity:.5;cursor:default}",
    ".new{font-size:12px;background:transparent;border:0;color:inherit;cursor:pointer;text-decoration:underline}",
    "form button.clip{background:#fff;color:#374151;border:1px solid #d1d5db;padding:0 8px;display:flex;align-items:center}",
    ".files{display:flex;flex-wrap:wrap;gap:6px;padding:0 10px}.files:empty{display:none}",
    ".file{font-size:12px;background:#f3f4f6;border-radius:10px;padding:2px 4px 2px 8px;display:flex;gap:4px;align-items:center}",
    ".file button{border:0;background:transparent;cursor:pointer;font-size:14px;line-height:1}",
    ".msg .attached{display:block;font-size:12px;opacity:.85;margin-top:2px}"
  ].join("\n");

  function start(config) {
    var host = el("div", { "data-assistant-widget": publicId });
    document.body.appendChild(host);
    var root = host.attachShadow({ mode: "open" });
    root.appendChild(el("style", { text: CSS }));
    var log = el("div", { "class": "log", role: "log", "aria-live": "polite" });
    var input = el("textarea", { rows: "1", "aria-label": "Your message", maxlength: String(config.max_message_chars || 1000), placeholder: "Ask a question…" });
    var send = el("button", { type: "submit", text: "Send" });
    var suggest = el("div", { "class": "suggest" });
    // Files (only when the widget takes them): uploaded at once, attached to the next question.
    var pending = [], uploading = 0;
    var chips = el("div", { "class": "files", "aria-label": "Attached files" });
    var picker = null, clipButton = null;
    if (config.file_upload_enabled) {
      picker = el("input", { type: "file", hidden: "hidden", "aria-hidden": "true", tabindex: "-1",
        accept: ".pdf,.docx,.html,.htm,.md,.txt,.csv,.json,.xlsx,.png,.jpg,.jpeg,.gif,.webp,text/*" });
      clipButton = el("button", { type: "button", "class": "clip", "aria-label": "Attach a file", title: "Attach a file" }, [clip()]);
      clipButton.addEventListener("click", function () { picker.click(); });
      picker.addEventListener("change", function () {
        Array.prototype.slice.call(picker.files || []).forEach(upload);
        picker.value = "";
      });
    }
    function drawChips() {
      chips.textContent = "";
      pending.forEach(function (f) {
        var remove = el("button", { type: "button", "aria-label": "Remove " + f.name, text: "×" });
        remove.addEventListener("click", function () { pending = pending.filter(function (x) { return x !== f; }); drawChips(); });
        chips.appendChild(el("span", { "class": "file" }, [el("span", { text: f.name }), remove]));
      });
    }
    function upload(file) {
      var data = new FormData();
      data.append("file", file, file.name);
      data.append("token", token());
      uploading += 1; send.disabled = true;
      fetch(api + "/files", { method: "POST", credentials: "omit", body: data }).then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) throw new Error((body.error && body.error.message) || "The file could not be attached.");
          keep(body.token);
          pending.push({ id: body.id, name: body.name });
          drawChips();
        }, function () { throw new Error("The file could not be attached."); });
      }).catch(function (error) {
        add("error", error.message || "The file could not be attached.");
      }).then(function () { uploading -= 1; if (!uploading) send.disabled = false; });
    }
    var form = el("form", {}, [clipButton, input, send]);
    var close = el("button", { type: "button", "aria-label": "Close chat", text: "×" });
    var restart = el("button", { type: "button", "class": "new", text: "New chat" });
    var panel = el("div", { "class": "panel", role: "dialog", "aria-label": config.title }, [
      el("header", {}, [el("span", { text: config.title }), el("span", {}, [restart, close])]), log, suggest, chips, form
    ]);
    var bubble = el("button", { "class": "bubble", type: "button", "aria-label": "Open chat: " + config.title }, [icon()]);
    var frame = el("div", { "class": "w " + (config.position === "bottom-left" ? "left" : "right") }, [panel, bubble]);
    frame.style.setProperty("--c", config.primary_color);
    frame.style.setProperty("--t", config.text_color);
    root.appendChild(frame);
    if (picker) root.appendChild(picker);

    function toggle(open) {
      frame.classList.toggle("open", open);
      bubble.setAttribute("aria-expanded", String(open));
      if (open) input.focus();
    }
    bubble.addEventListener("click", function () { toggle(!frame.classList.contains("open")); });
    close.addEventListener("click", function () { toggle(false); bubble.focus(); });
    restart.addEventListener("click", function () { forget(); log.textContent = ""; welcome(); });

    function add(role, text) {
      var m = el("div", { "class": "msg " + role });
      if (role === "assistant") markdown(text, m); else m.textContent = text;
      log.appendChild(m);
      log.scrollTop = log.scrollHeight;
      return m;
    }
    function sources(m, list) {
      if (!config.show_sources || !list || !list.length) return;
      var cited = list.filter(function (s) { return s.cited !== false; });
      if (!cited.length) return;
      var ol = el("ol", { "class": "sources", "aria-label": "Sources" });
      cited.forEach(function (s) {
        var label = s.document_title + (s.page ? " (p. " + s.page + ")" : "");
        ol.appendChild(el("li", { value: String(s.index), title: s.text || s.snippet || "", text: label }));
      });
      m.appendChild(ol);
    }
    function feedback(m, id, rating) {
      if (!config.feedback_enabled || !id) return;
      var box = el("div", { "class": "feedback" });
      box.appendChild(el("span", { text: "Helpful?" }));
      [[1, "Yes", "Helpful"], [-1, "No", "Not helpful"]].forEach(function (f) {
        var b = el("button", { type: "button", "aria-label": f[2], "aria-pressed": String(rating === f[0]), text: f[1] });
        b.addEventListener("click", function () {
          fetch(api + "/feedback", { method: "POST", credentials: "omit", headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ message_id: id, rating: f[0], token: token() }) }).then(function (r) {
            if (r.ok) box.querySelectorAll("button").forEach(function (x) { x.setAttribute("aria-pressed", String(x === b)); });
          });
        });
        box.appendChild(b);
      });
      m.appendChild(box);
    }
    function welcome() {
      if (config.welcome_message) add("assistant", config.welcome_message);
      suggest.textContent = "";
      (config.suggested_questions || []).forEach(function (q) {
        suggest.appendChild(el("button", { type: "button", text: q, onclick: function () { ask(q); } }));
      });
    }

    function attachedTo(node, files) {
      if (files && files.length) {
        node.appendChild(el("span", { "class": "attached", text: "Attached: " + files.map(function (f) { return f.name; }).join(", ") }));
      }
    }

    function ask(text) {
      text = (text || "").trim();
      if (!text || send.disabled) return;
      suggest.textContent = "";
      var attached = pending;
      attachedTo(add("user", text), attached);
      pending = []; drawChips();
      input.value = "";
      send.disabled = true;
      var answer = add("assistant", "…"), body = "", sourceList = [], messageId = null;
      fetch(api + "/chat", {
        method: "POST", credentials: "omit",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify({ message: text, token: token(), attachments: attached.map(function (f) { return f.id; }) })
      }).then(function (response) {
        keep(response.headers.get("X-Widget-Token"));
        if (!response.ok) {
          return response.json().then(function (e) { throw new Error((e.error && e.error.message) || "The assistant is unavailable."); },
            function () { throw new Error("The assistant is unavailable."); });
        }
        var reader = response.body.getReader(), decoder = new TextDecoder(), buffer = "";
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) return;
            buffer += decoder.decode(chunk.value, { stream: true });
            var events = buffer.split("\n\n");
            buffer = events.pop();
            events.forEach(function (raw) {
              var name = "", data = "";
              raw.split("\n").forEach(function (line) {
                if (line.indexOf("event: ") === 0) name = line.slice(7);
                else if (line.indexOf("data: ") === 0) data += line.slice(6);
              });
              var payload = data ? JSON.parse(data) : {};
              if (name === "delta") { body += payload.text; markdown(body, answer); log.scrollTop = log.scrollHeight; }
              else if (name === "sources") sourceList = payload.sources || [];
              else if (name === "done") messageId = payload.message_id;
              else if (name === "error") throw new Error(payload.message);
            });
            return pump();
          });
        }
        return pump();
      }).then(function () {
        sources(answer, sourceList);
        feedback(answer, messageId, null);
      }).catch(function (error) {
        answer.className = "msg error";
        answer.textContent = error.message || "The assistant is unavailable.";
      }).then(function () { send.disabled = false; input.focus(); });
    }
    form.addEventListener("submit", function (e) { e.preventDefault(); ask(input.value); });
    input.addEventListener("keydown", function (e) { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); ask(input.value); } });

    // Continuity: the visitor's conversation so far, if their token still names one.
    welcome();
    if (!token()) return;
    fetch(api + "/messages", { credentials: "omit", headers: { "X-Widget-Token": token() } })
      .then(function (r) { return r.ok ? r.json() : { messages: [] }; })
      .then(function (data) {
        if (data.messages.length) suggest.textContent = "";
        data.messages.forEach(function (m) {
          var node = add(m.role === "user" ? "user" : "assistant", m.content);
          if (m.role !== "user") { sources(node, m.sources); feedback(node, m.id, m.rating); }
          else attachedTo(node, m.attachments);
        });
      }, function () { /* the conversation stays empty */ });
  }

  function boot() {
    fetch(api + "/config", { credentials: "omit" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (config) { if (config) start(config); }, function () { /* not allowed here: nothing shown */ });
  }
  if (document.body) boot(); else document.addEventListener("DOMContentLoaded", boot);
})();
