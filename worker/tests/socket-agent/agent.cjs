// A socket.io-client v4 agent driven over stdin/stdout with JSON lines, so a Rust test can act
// like several phones at once. Commands (stdin):
//   {"cmd":"connect","id":"t1","url":"http://127.0.0.1:8080","token":"...","lastSeq":3}
//   {"cmd":"join","id":"t1","room":"broadcast:..."}      -> {"id","type":"join","reply":{...}}
//   {"cmd":"ack","id":"t1","seq":7}
//   {"cmd":"reauth","id":"t1","token":"..."}                -> {"id","type":"reauth","reply":{...}}
//   {"cmd":"disconnect","id":"t1"}
// Output (stdout): {"id","type":"connected"} | {"id","type":"connect_error","message"} |
//   {"id","type":"event","event","payload"} | {"id","type":"disconnected"}
const { io } = require("socket.io-client");
const readline = require("readline");

const sockets = new Map();
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

function connect({ id, url, token, lastSeq }) {
  const auth = { token };
  if (lastSeq !== undefined && lastSeq !== null) auth.lastSeq = lastSeq;
  const s = io(url, { transports: ["websocket"], auth, reconnection: false, forceNew: true });
  sockets.set(id, s);
  s.on("connect", () => out({ id, type: "connected" }));
  s.on("connect_error", (err) => out({ id, type: "connect_error", message: err.message }));
  s.on("disconnect", (reason) => out({ id, type: "disconnected", reason }));
  s.onAny((event, payload) => out({ id, type: "event", event, payload }));
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  let c;
  try {
    c = JSON.parse(line);
  } catch (e) {
    out({ type: "error", message: "bad command: " + line });
    return;
  }
  const s = sockets.get(c.id);
  if (c.cmd === "connect") connect(c);
  else if (c.cmd === "join" && s) s.emit("join", { room: c.room }, (reply) => out({ id: c.id, type: "join", reply }));
  else if (c.cmd === "ack" && s) s.emit("ack", { seq: c.seq });
  else if (c.cmd === "reauth" && s) s.emit("reauth", { token: c.token }, (reply) => out({ id: c.id, type: "reauth", reply }));
  else if (c.cmd === "disconnect" && s) { s.disconnect(); sockets.delete(c.id); }
  else out({ type: "error", message: "unknown command or socket: " + line });
});
