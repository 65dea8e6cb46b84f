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
// Two forms in a region may each have a field of the same name (the notes of a wrap-up and of
// a clinician's callback): a field is known by its id, a choice by its form, name and value.
function replaceRegion(region, html) {
  const typed = {};
  const key = (field) => field.id || `${field.form?.id}:${field.name}`;
  const choice = (field) => `${field.form?.id}:${field.name}=${field.value}`;
  region.querySelectorAll("input[name], textarea[name], select[name]").forEach((field) => {
    if (field.type === "hidden") return;
    if (field.type === "radio" || field.type === "checkbox") {
      if (field.checked) typed[choice(field)] = true;
    } else {
      typed[key(field)] = field.value;
    }
  });
  const focused = region.contains(document.activeElement) ? document.activeElement.id : "";
  region.innerHTML = html;
  region.querySelectorAll("input[name], textarea[name], select[name]").forEach((field) => {
    if (field.type === "radio" || field.type === "checkbox") {
      if (typed[choice(field)]) field.checked = true;
    } else if (field.type !== "hidden" && key(field) in typed) {
      field.value = typed[key(field)];
    }
  });
  if (focused) {
    const again = document.getElementById(focused);
    if (again) again.focus();
  }
}

function listen(url) {
  const source = new EventSource(url);
  const received = {};
  source.addEventListener("open", () => say(""));
  source.addEventListener("region", (event) => {
    const update = JSON.parse(event.data);
    const region = document.getElementById(update.id);
    if (!region) return;
    const before = received[update.id];
    received[update.id] = update.html;
    if (before === update.html) return;  // a reconnection sends every region again
    replaceRegion(region, update.html);
    // "You are available for calls" is stale once a call arrives: a region marked so takes
    // the page's notices away when it changes (not on its first update, which is the page).
    if (before !== undefined && region.hasAttribute("data-clears-notices")) {
      document.querySelectorAll("[data-stale-on-change]").forEach((notice) => notice.remove());
    }
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

// The console as the handler's phone: Twilio's Voice JavaScript SDK (loaded by the page only
// where it is configured), signed in with an access token from Lifeline and kept signed in.
function phone(panel) {
  const status = panel.querySelector("#phone-status");
  const buttons = {
    answer: panel.querySelector("#phone-answer"),
    decline: panel.querySelector("#phone-decline"),
    mute: panel.querySelector("#phone-mute"),
    hangUp: panel.querySelector("#phone-hang-up"),
  };
  const show = (text, ...visible) => {
    status.textContent = text;
    Object.entries(buttons).forEach(([name, button]) => { button.hidden = !visible.includes(name); });
  };
  if (!window.Twilio || !window.Twilio.Device) {
    show("The phone could not be loaded. Reload the page; if it persists, tell your supervisor.");
    return;
  }
  const signIn = () => fetch(panel.dataset.signIn, { credentials: "same-origin" })
    .then((response) => {
      if (!response.ok) throw new Error(`Lifeline answered ${response.status}`);
      return response.json();
    });
  let call = null;
  const ready = () => { call = null; show("Ready: calls ring here."); };
  signIn().then(({ token }) => {
    const device = new window.Twilio.Device(token, { closeProtection: true });
    device.on("registered", ready);
    device.on("unregistered", () => show("The phone is signed out. Reload the page."));
    device.on("error", (error) => say(`Phone problem: ${error.message}`));
    device.on("tokenWillExpire", () => {
      signIn().then((fresh) => device.updateToken(fresh.token))
        .catch(() => say("The phone could not stay signed in. Reload the page."));
    });
    device.on("incoming", (incoming) => {
      call = incoming;
      show("A call is coming through.", "answer", "decline");
      buttons.answer.focus();
      incoming.on("accept", () => {
        show("On a call.", "mute", "hangUp");
        buttons.hangUp.focus();
      });
      ["disconnect", "cancel", "reject"].forEach((name) => incoming.on(name, ready));
      incoming.on("mute", (muted) => {
        buttons.mute.setAttribute("aria-pressed", String(muted));
        buttons.mute.textContent = muted ? "Unmute" : "Mute";
      });
    });
    device.register();
  }).catch(() => show("The phone could not sign in. Reload the page."));
  buttons.answer.addEventListener("click", () => call && call.accept());
  buttons.decline.addEventListener("click", () => call && call.reject());
  buttons.mute.addEventListener("click", () => call && call.mute(!call.isMuted()));
  buttons.hangUp.addEventListener("click", () => call && call.disconnect());
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
  const panel = document.getElementById("phone");
  if (panel) phone(panel);
  jumpToLines();
  const problem = document.querySelector(".error-summary[tabindex]");
  if (problem) problem.focus();  // announced first, and the next Tab reaches its links
});
