// The minimal durable Probot app the benchmark compares against: Probot verifies the
// signature (via @octokit/webhooks) and the handler appends the delivery to a file and fsyncs
// before Probot answers — the same work Canopy's intake does (verify, persist).
const http = require("http");
const fs = require("fs");
const { Probot, createNodeMiddleware } = require("probot");

const out = fs.openSync(process.env.OUT_FILE, "a");
const probot = new Probot({
  appId: 1,
  privateKey: fs.readFileSync(process.env.PRIVATE_KEY_FILE, "utf8"),
  secret: process.env.WEBHOOK_SECRET,
  logLevel: "error",
});
const app = (app) => {
  app.onAny(async (context) => {
    const line = JSON.stringify({ id: context.id, name: context.name, payload: context.payload }) + "\n";
    await new Promise((resolve, reject) => fs.write(out, line, (e) => (e ? reject(e) : resolve())));
    await new Promise((resolve, reject) => fs.fsync(out, (e) => (e ? reject(e) : resolve())));
  });
};
const middleware = createNodeMiddleware(app, { probot, webhooksPath: "/webhooks/github" });
http.createServer(middleware).listen(Number(process.env.PORT), "127.0.0.1");
