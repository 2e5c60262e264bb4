// The Express 5 upstream of the authz differential: routes from the test, in order; each
// handler answers which route ran (X-Ran) and the action keystile decided (X-Decided, from
// X-Keystile-Action). Express's defaults: case-insensitive, non-strict routing. PUT /__routes
// (on this port, not through nginx) replaces the table: [{"path", "methods" (null: any),
// "route", "ints" (parameters that must be digits: the handler passes on, as apps do)}].
"use strict";
const express = require("express");
const methodOverride = require("method-override");

const app = express();
let router = express.Router();

function table(routes) {
  const fresh = express.Router();
  for (const { path, methods, route, ints } of routes) {
    const handler = (req, res, next) => {
      if (ints.some((name) => !/^[0-9]+$/.test(req.params[name]))) return next();
      res.set("x-ran", String(route));
      res.set("x-decided", req.get("x-keystile-action") || "");
      res.type("text/plain").send("ran\n");
    };
    if (methods === null) fresh.all(path, handler);
    else for (const method of methods) fresh[method.toLowerCase()](path, handler);
  }
  return fresh;
}

app.put("/__routes", express.json({ limit: "5mb" }), (req, res) => {
  try {
    router = table(req.body.routes);
  } catch (error) {
    res.status(400).send(String(error));
    return;
  }
  res.send(`routes=${req.body.routes.length}\n`);
});
// The usual way to let clients override the method (POST only, the package's default).
app.use(methodOverride("X-HTTP-Method-Override"));
app.use(methodOverride((req) => req.query && req.query._method));
app.use((req, res, next) => router(req, res, next));
app.use((req, res) => res.status(404).type("text/plain").send("no route\n"));

const server = app.listen(Number(process.argv[2]), "127.0.0.1", () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
