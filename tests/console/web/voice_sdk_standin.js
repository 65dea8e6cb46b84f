// A stand-in for Twilio's Voice JavaScript SDK in browser tests: the parts of `Twilio.Device`
// and of its calls that the console uses, recording what the console does with them, with
// `window.voice.ring()` to make a call come in and `window.voice.emit()` for other events.
"use strict";

class StandInEvents {
  constructor() { this.handlers = {}; }
  on(name, handler) { (this.handlers[name] = this.handlers[name] || []).push(handler); }
  emit(name, ...args) { (this.handlers[name] || []).forEach((handler) => handler(...args)); }
}

class StandInCall extends StandInEvents {
  constructor(parameters) {
    super();
    this.parameters = parameters;
    this.accepted = false;
    this.muted = false;
    this.ended = "";
  }
  accept() { this.accepted = true; this.emit("accept", this); }
  reject() { this.ended = "rejected"; this.emit("reject"); }
  disconnect() { this.ended = "hung up"; this.emit("disconnect", this); }
  mute(flag) { this.muted = flag; this.emit("mute", flag, this); }
  isMuted() { return this.muted; }
}

class StandInDevice extends StandInEvents {
  constructor(token, options) {
    super();
    this.token = token;
    this.options = options;
    this.updates = 0;
    window.voice = this;
  }
  register() { setTimeout(() => this.emit("registered"), 0); return Promise.resolve(); }
  updateToken(token) { this.token = token; this.updates += 1; }
  ring(parameters) { const call = new StandInCall(parameters); this.emit("incoming", call); return call; }
}

window.Twilio = { Device: StandInDevice };
