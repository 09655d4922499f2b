// Opens examples/first-call.html in Debian's headless Chromium (playwright-core)
// and checks what it shows. Run by docs/examples/run.sh:
//   node examples/check.mjs GATEWAY_URL TOKEN BUNDLE_JS
// The page and its bundle are served from a throwaway server on loopback (a
// page on a public origin, or one Chromium cannot place, may not call the
// loopback gateway); its grpc-web calls go to the real gateway (CORS).

import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { chromium } from "playwright-core";

const [gateway, token, bundle] = process.argv.slice(2);
if (!gateway || !token || !bundle) throw new Error("usage: check.mjs GATEWAY_URL TOKEN BUNDLE_JS");
const html = await readFile(new URL("./first-call.html", import.meta.url), "utf8");
const js = await readFile(bundle, "utf8");
const site = createServer((req, res) => {
  const isJs = req.url === "/first-call.js";
  res.writeHead(200, { "content-type": isJs ? "text/javascript" : "text/html" });
  res.end(isJs ? js : html);
});
await new Promise((ok) => site.listen(0, "127.0.0.1", ok));
const origin = `http://127.0.0.1:${site.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(15_000);
  page.on("console", (m) => m.type() === "error" && console.error(`console: ${m.text()}`));
  const url = `${origin}/first-call.html?gateway=${encodeURIComponent(gateway)}&token=${encodeURIComponent(token)}`;
  await page.goto(url);
  await page.waitForFunction(() => {
    const s = document.querySelector("#screening")?.textContent;
    return (s && s !== "…") || document.querySelector("#error")?.textContent;
  });
  const error = await page.locator("#error").textContent();
  if (error) throw new Error(`the page shows an error: ${error}`);
  const muscles = await page.locator("#matches li").allTextContents();
  console.log(`muscles: ${muscles.join(", ")}`);
  console.log(`screening: ${await page.locator("#screening").textContent()}`);
} finally {
  await browser.close();
  site.close();
}
