// Node side of signature_interop_test.py. Reads cases (JSON) on stdin; for
// each, verifies the headers our signer produced with the npm
// `standardwebhooks` package's Webhook.verify, and with the docs' Node
// snippet (loaded from argv[2]). Prints one JSON result per case.
"use strict";
const { Webhook } = require("standardwebhooks");
const snippet = require(process.argv[2]);

let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const results = [];
  for (const c of JSON.parse(input)) {
    const body = Buffer.from(c.body_base64, "base64");
    const headers = c.headers;
    let library;
    try {
      const wh = c.secret.startsWith("whsec_") ? new Webhook(c.secret) : new Webhook(c.secret, { format: "raw" });
      wh.verify(body, headers);
      library = "ok";
    } catch (e) {
      library = String(e.message);
    }
    results.push({
      name: c.name,
      library,
      docs_sluice: snippet.verifySluice(c.secret, headers, body),
      docs_standard: snippet.verifyStandard(c.secret, headers, body),
    });
  }
  process.stdout.write(JSON.stringify(results));
});
