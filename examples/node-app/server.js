// A Node app with the jobs sidecar beside it in one Databricks App (app.yaml starts both).
// Apps gives an app one port: this server takes it, serves its own pages, and passes /api/jobs
// to the sidecar on a loopback port, headers and event streams as they are. The Apps proxy's
// X-Forwarded-Email travels on to the sidecar, which trusts loopback peers (apps mode): it
// knows the caller as if the proxy had called it directly. No dependencies: node:http only.
import http from "node:http";

const sidecar = { host: "127.0.0.1", port: Number(process.env.SIDECAR_PORT || 8001) };
const port = Number(process.env.DATABRICKS_APP_PORT || process.env.PORT || 8000);

function toSidecar(req, res) {
  const upstream = http.request(
    { ...sidecar, method: req.method, path: req.url, headers: req.headers },
    (reply) => {
      res.writeHead(reply.statusCode, reply.headers);
      reply.pipe(res); // an event stream flows through as it is written
    },
  );
  upstream.on("error", () => {
    if (!res.headersSent) {
      res.writeHead(502, { "content-type": "application/json" });
    }
    res.end(JSON.stringify({ error: "The jobs sidecar is not reachable", code: "UNAVAILABLE", plugin: "jobs" }));
  });
  res.on("close", () => upstream.destroy()); // a client that leaves ends its stream upstream too
  req.pipe(upstream);
}

http
  .createServer((req, res) => {
    if (req.url === "/api/jobs" || req.url.startsWith("/api/jobs/") || req.url.startsWith("/api/jobs?")) {
      toSidecar(req, res);
      return;
    }
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end("<!doctype html><title>My app</title><h1>My app</h1>");
  })
  .listen(port, () => console.log(`listening on ${port}; /api/jobs -> ${sidecar.host}:${sidecar.port}`));
