// Holds thousands of socket.io-client v4 sockets (one per transporter token) and prints, for
// every `new_broadcast`, "b <broadcastId> <epoch ms>". Prints "ready <n>" once all are connected.
// Usage: node fanout.cjs <url> <tokens-file>; exits when stdin closes.
const { io } = require("socket.io-client");
const fs = require("fs");

const [url, file] = process.argv.slice(2);
const tokens = fs.readFileSync(file, "utf8").split("\n").filter(Boolean);
let connected = 0;
let failed = 0;
const sockets = [];

function open(i) {
  if (i >= tokens.length) return;
  const s = io(url, { transports: ["websocket"], auth: { token: tokens[i] }, reconnection: false, forceNew: true });
  sockets.push(s);
  s.on("connect", () => {
    connected++;
    if (connected + failed === tokens.length) process.stdout.write(`ready ${connected} connected, ${failed} failed\n`);
    open(i + 100);
  });
  s.on("connect_error", () => {
    failed++;
    if (connected + failed === tokens.length) process.stdout.write(`ready ${connected} connected, ${failed} failed\n`);
    open(i + 100);
  });
  s.on("new_broadcast", (p) => process.stdout.write(`b ${p.broadcastId} ${Date.now()}\n`));
}
for (let i = 0; i < Math.min(100, tokens.length); i++) open(i);
process.stdin.on("end", () => { sockets.forEach((s) => s.close()); process.exit(0); });
process.stdin.resume();
