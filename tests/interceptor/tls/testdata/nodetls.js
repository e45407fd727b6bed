// Test program for the eBPF TLS source: Node.js's https (OpenSSL linked into the node binary).
//   node nodetls.js server CERT KEY   HTTPS echo server on 127.0.0.1:0; prints "LISTEN <port>"
//   node nodetls.js client PORT SIZES keep-alive POSTs /node/<i> of JSON bodies of the
//                                     comma-separated SIZES (pytls.py's body()) after a line on stdin;
//                                     prints "<status> <len>" each, then "ELAPSED <s>"
"use strict";
const https = require("https");
const fs = require("fs");

function body(i, size) {
  const head = `{"i":${i},"pad":"`;
  return Buffer.from(head + "y".repeat(size - head.length - 2) + '"}');
}

function server(cert, key) {
  const srv = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, (req, res) => {
    const parts = [];
    req.on("data", (c) => parts.push(c));
    req.on("end", () => {
      const data = Buffer.concat(parts);
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": data.length });
      res.end(data);
    });
  });
  srv.keepAliveTimeout = 30000;
  srv.listen(0, "127.0.0.1", () => console.log(`LISTEN ${srv.address().port}`));
}

function firstLine() {  // the bench lets the client go once its probes are attached (EOF: at once)
  return new Promise((resolve) => {
    process.stdin.once("data", resolve);
    process.stdin.once("end", resolve);
    process.stdin.once("error", resolve);
  });
}

async function client(port, sizes) {
  await firstLine();
  process.stdin.pause();
  const start = process.hrtime.bigint();
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  for (let i = 0; i < sizes.length; i++) {
    const data = body(i, sizes[i]);
    const status = await new Promise((resolve, reject) => {
      const req = https.request({ host: "127.0.0.1", port, path: `/node/${i}`, method: "POST", agent,
        rejectUnauthorized: false, headers: { "Content-Type": "application/json", "Content-Length": data.length } },
        (res) => { let n = 0; res.on("data", (c) => { n += c.length; }); res.on("end", () => resolve(`${res.statusCode} ${n}`)); });
      req.on("error", reject);
      req.end(data);
    });
    console.log(status);
  }
  agent.destroy();
  console.log(`ELAPSED ${Number(process.hrtime.bigint() - start) / 1e9}`);
}

const [mode, ...args] = process.argv.slice(2);
if (mode === "server") server(args[0], args[1]);
else if (mode === "client") client(Number(args[0]), args[1].split(",").map(Number)).catch((e) => { console.error(e); process.exit(1); });
else { console.error(`unknown mode ${mode}`); process.exit(2); }
