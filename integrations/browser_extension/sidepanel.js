// The side panel: signs in with an API key (kept in extension storage), chats with the
// organization's assistants about the page (its selection, else its readable text, sent
// by the extension: the platform fetches nothing), and saves the page to a collection.
"use strict";
const $ = (id) => document.getElementById(id);
const PAGE_CHARS = 6000;
let auth = null;

async function api(path, options = {}) {
  const response = await fetch(auth.host + path, {
    ...options,
    credentials: "omit",
    headers: { Authorization: "Bearer " + auth.key, ...(options.headers || {}) },
  });
  if (!response.ok) {
    let message = "HTTP " + response.status;
    try { message = (await response.json()).error.message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

// The page the user is reading: the active tab, or (when the panel is open as a tab of
// its own) the most recently used web page.
async function readingTab() {
  const tabs = await chrome.tabs.query({});
  const web = tabs.filter((t) => /^https?:/.test(t.url || ""));
  const active = web.find((t) => t.active && t.highlighted);
  return active || web.sort((a, b) => (b.lastAccessed || 0) - (a.lastAccessed || 0))[0];
}

async function pageContent() {
  const tab = await readingTab();
  if (!tab) return null;
  const [result] = await chrome.scripting.executeScript({
    target: { tabId: tab.id },
    func: () => {
      const selected = String(window.getSelection() || "").trim();
      const main = document.querySelector("main, article") || document.body;
      return { title: document.title, url: location.href, selected, text: main.innerText };
    },
  });
  return result.result;
}

function add(role, text) {
  const node = document.createElement("div");
  node.className = "msg " + role;
  node.textContent = text;
  $("log").appendChild(node);
  $("log").scrollTop = $("log").scrollHeight;
  return node;
}

async function ask(question) {
  let message = question;
  if ($("with-page").checked) {
    const page = await pageContent();
    if (page) {
      const context = (page.selected || page.text).slice(0, PAGE_CHARS);
      message = `${question}\n\nContext: ${page.selected ? "text selected" : "the page"} "${page.title}" (${page.url}):\n${context}`;
    }
  }
  add("user", question);
  const answer = add("assistant", "…");
  const response = await api("/api/v1/chat", {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Client": "browser-extension" },
    body: JSON.stringify({ assistant: $("assistant").value, message, stream: true }),
  });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "", text = "", sources = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    const events = buffer.split("\n\n");
    buffer = events.pop();
    for (const raw of events) {
      const name = (raw.match(/^event: (.*)$/m) || [])[1];
      const data = JSON.parse((raw.match(/^data: (.*)$/m) || [])[1] || "{}");
      if (name === "delta") { text += data.text; answer.textContent = text; }
      else if (name === "sources") sources = data.sources.filter((s) => s.cited !== false);
      else if (name === "error") throw new Error(data.message);
    }
  }
  if (sources.length) {
    const list = document.createElement("ol");
    list.className = "sources";
    list.setAttribute("aria-label", "Sources");
    for (const s of sources) {
      const item = document.createElement("li");
      item.value = s.index;
      item.textContent = s.document_title;
      list.appendChild(item);
    }
    answer.appendChild(list);
  }
}

async function savePage() {
  const page = await pageContent();
  if (!page) throw new Error("No web page to save.");
  const form = new FormData();
  const name = (page.title || "page").replace(/[^\w .-]+/g, " ").trim().slice(0, 80) || "page";
  form.append("files", new Blob([`# ${page.title}\n\nSource: ${page.url}\n\n${page.text}`], { type: "text/markdown" }), name + ".md");
  await api(`/api/v1/collections/${$("collection").value}/documents`, { method: "POST", body: form });
  return name;
}

async function fill(select, path) {
  const data = await (await api(path + "?page_size=100")).json();
  select.textContent = "";
  for (const row of data.results) {
    const option = document.createElement("option");
    option.value = row.id;
    option.textContent = row.name;
    select.appendChild(option);
  }
}

async function signedIn() {
  await fill($("assistant"), "/api/v1/assistants");
  await fill($("collection"), "/api/v1/collections");
  $("settings").hidden = true;
  $("chat").hidden = false;
}

$("settings").addEventListener("submit", async (event) => {
  event.preventDefault();
  auth = { host: new URL($("host").value).origin, key: $("key").value.trim() };
  try {
    await signedIn();
    await chrome.storage.local.set({ auth });
    $("settings-error").textContent = "";
  } catch (error) {
    auth = null;
    $("settings-error").textContent = "Could not sign in: " + error.message;
  }
});
$("signout").addEventListener("click", async () => {
  await chrome.storage.local.remove("auth");
  auth = null;
  $("chat").hidden = true;
  $("settings").hidden = false;
});
$("ask").addEventListener("submit", (event) => {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question) return;
  $("question").value = "";
  ask(question).catch((error) => add("assistant", "Error: " + error.message));
});
$("save").addEventListener("submit", (event) => {
  event.preventDefault();
  savePage().then((name) => { $("saved").textContent = `Saved "${name}".`; },
    (error) => { $("saved").textContent = "Not saved: " + error.message; });
});
chrome.storage.local.get("auth").then(({ auth: stored }) => {
  if (!stored) return;
  auth = stored;
  signedIn().catch(() => { auth = null; });
});
