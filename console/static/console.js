// Lifeline consoles: live regions by server-sent events, and the handler's heartbeat.
// Everything works without this script except what is live; no build step.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

function say(text) {
  const status = document.getElementById("live-status");
  if (status) status.textContent = text;
}

// Put new HTML in a region, keeping what the person was typing and where their focus was.
function replaceRegion(region, html) {
  const typed = {};
  region.querySelectorAll("input[name], textarea[name], select[name]").forEach((field) => {
    if (field.type === "hidden") return;
    if (field.type === "radio" || field.type === "checkbox") {
      if (field.checked) typed[field.name + "=" + field.value] = true;
    } else {
      typed[field.name] = field.value;
    }
  });
  const focused = region.contains(document.activeElement) ? document.activeElement.id : "";
  region.innerHTML = html;
  region.querySelectorAll("input[name], textarea[name], select[name]").forEach((field) => {
    if (field.type === "radio" || field.type === "checkbox") {
      if (typed[field.name + "=" + field.value]) field.checked = true;
    } else if (field.type !== "hidden" && field.name in typed) {
      field.value = typed[field.name];
    }
  });
  if (focused) {
    const again = document.getElementById(focused);
    if (again) again.focus();
  }
}

function listen(url) {
  const source = new EventSource(url);
  source.addEventListener("open", () => say(""));
  source.addEventListener("region", (event) => {
    const update = JSON.parse(event.data);
    const region = document.getElementById(update.id);
    if (region) replaceRegion(region, update.html);
  });
  source.addEventListener("signed-out", () => {
    source.close();
    say("You have been signed out. Reload the page to sign in.");
  });
  source.addEventListener("error", () => {
    say(source.readyState === EventSource.CLOSED
      ? "Live updates stopped. Reload the page."
      : "Reconnecting…");
  });
}

function beat(url, seconds) {
  const send = () => fetch(url, {
    method: "POST",
    headers: { "X-CSRF-Token": csrfToken() },
    credentials: "same-origin",
  }).then((response) => {
    if (response.status === 401 || response.status === 403) {
      say("You have been signed out. Reload the page to sign in.");
      clearInterval(timer);
    }
  }).catch(() => say("Cannot reach Lifeline. Retrying…"));
  const timer = setInterval(send, seconds * 1000);
}

// The rules editor: a problem's link puts the caret on its line in the editor; on load, the
// editor is scrolled to the first problem.
function showLine(editor, line, select) {
  const lines = editor.value.split("\n");
  const height = editor.scrollHeight / Math.max(lines.length, 1);
  editor.scrollTop = Math.max(0, (line - 5) * height);
  if (!select) return;
  const start = lines.slice(0, line - 1).join("\n").length + (line > 1 ? 1 : 0);
  editor.focus();
  editor.setSelectionRange(start, start + (lines[line - 1] || "").length);
  editor.scrollIntoView({ block: "center" });
}

function jumpToLines() {
  const editor = document.getElementById("document");
  if (!editor) return;
  const links = document.querySelectorAll("a[data-line]");
  links.forEach((link) => {
    link.addEventListener("click", (event) => {
      event.preventDefault();  // the editor, not the listing below, is where to fix it
      showLine(editor, Number(link.dataset.line), true);
    });
  });
  if (links.length) showLine(editor, Number(links[0].dataset.line), false);
}

document.addEventListener("DOMContentLoaded", () => {
  const body = document.body;
  if (body.dataset.stream) listen(body.dataset.stream);
  if (body.dataset.heartbeat) {
    const [url, seconds] = body.dataset.heartbeat.split("|");
    beat(url, Number(seconds));
  }
  jumpToLines();
  const problem = document.querySelector(".error-summary[tabindex]");
  if (problem) problem.focus();  // announced first, and the next Tab reaches its links
});
