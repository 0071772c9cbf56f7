// A headless Chromium (Debian's /usr/bin/chromium, or $CHROMIUM) driven by playwright-core over
// stdin/stdout with JSON lines, so a Rust test can use the ops console as an operator would.
// One command per line; one answer per command, in order: {"ok":true,...} or {"ok":false,"error"}.
//   {"cmd":"goto","url":"http://127.0.0.1:8081/"}
//   {"cmd":"fill","sel":"#phone","value":"+91..."}
//   {"cmd":"click","sel":"#send-code"}
//   {"cmd":"select","sel":"#map-broadcast","value":"<id>"}
//   {"cmd":"waitFor","sel":"tr[data-id='..']","text":"optional substring","timeoutMs":5000}
//   {"cmd":"count","sel":"circle.ring"}                     -> {"ok":true,"count":3}
//   {"cmd":"text","sel":"#timeline"}                        -> {"ok":true,"text":"..."}
//   {"cmd":"screenshot","path":"/tmp/x.png"}
//   {"cmd":"close"}
const { chromium } = require("playwright-core");
const readline = require("readline");

const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems = [];
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("console", (m) => { if (m.type() === "error") problems.push("console error: " + m.text() + " at " + m.location().url); });
  out({ ok: true, ready: true });

  const run = async (c) => {
    const timeout = c.timeoutMs || 10000;
    switch (c.cmd) {
      case "goto": await page.goto(c.url, { waitUntil: "load", timeout }); return {};
      case "fill": await page.locator(c.sel).fill(c.value, { timeout }); return {};
      case "click": await page.locator(c.sel).first().click({ timeout }); return {};
      case "select": await page.locator(c.sel).selectOption(c.value, { timeout }); return {};
      case "waitFor": {
        const loc = c.text ? page.locator(c.sel, { hasText: c.text }) : page.locator(c.sel);
        await loc.first().waitFor({ state: "visible", timeout });
        return {};
      }
      case "count": return { count: await page.locator(c.sel).count() };
      case "text": return { text: await page.locator(c.sel).first().innerText({ timeout }) };
      case "screenshot": await page.screenshot({ path: c.path, fullPage: true }); return {};
      case "problems": return { problems };
      case "close": await browser.close(); process.exit(0);
      default: throw new Error("unknown command " + c.cmd);
    }
  };

  // Commands run one at a time, in the order they came.
  let chain = Promise.resolve();
  readline.createInterface({ input: process.stdin }).on("line", (line) => {
    chain = chain.then(async () => {
      let c;
      try {
        c = JSON.parse(line);
        out({ ok: true, ...(await run(c)) });
      } catch (e) {
        out({ ok: false, error: String(e && e.message ? e.message : e).split("\n").slice(0, 6).join("\n") });
      }
    });
  });
}

main().catch((e) => {
  out({ ok: false, error: "browser did not start: " + e.message });
  process.exit(1);
});
