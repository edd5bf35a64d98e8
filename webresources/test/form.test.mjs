// Browser tests of dedupegate_form.js: headless Chromium (Debian's chromium) driven by
// playwright-core, against test/form.html (a fake model-driven form) and a real gateway.
// Run by `go test ./webresources`, which starts the gateway on loopback with a seeded index,
// serves this folder, and passes:
//
//   PAGE_URL     base URL of this folder (form.html is PAGE_URL/test/form.html)
//   GATEWAY_URL  the gateway's base URL (another origin: CORS is exercised)
//   TOKEN        an Entra ID access token the gateway accepts
//   DUP_ID       the id of the seeded contact the duplicate scenarios match
//   CHROMIUM     the browser binary (default /usr/bin/chromium)
//
// It prints one "RESULT {json}" line with the record saved by Ignore and Save, so that the Go
// test can present its token to the webhook.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";

const env = (k) => {
  const v = process.env[k];
  if (!v) {
    console.error(`missing environment variable ${k}`);
    process.exit(2);
  }
  return v;
};
const pageURL = env("PAGE_URL");
const gatewayURL = env("GATEWAY_URL");
const token = env("TOKEN");
const dupID = env("DUP_ID");
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

const contactFields = ["firstname", "lastname", "emailaddress1", "telephone1", "dg_overridetoken"];

function formURL({ table = "contact", id = "", config = {}, fields = contactFields } = {}) {
  const cfg = {
    gatewayUrl: gatewayURL, overrideColumn: "dg_overridetoken", debounceMs: 150,
    auth: { type: "bearer", provider: "TestAuth.getToken" }, ...config,
  };
  const q = new URLSearchParams({ table, fields: fields.join(","), id, token, config: JSON.stringify(cfg) });
  return `${pageURL}/test/form.html?${q}`;
}

async function type(page, field, value) {
  await page.fill(`#${field}`, value);
  await page.press(`#${field}`, "Tab"); // commits the value: OnChange fires
}

const userDataDir = mkdtempSync(join(tmpdir(), "dedupegate-chromium-"));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
context.setDefaultTimeout(15000);

const results = [];
let failed = 0;
async function scenario(name, fn) {
  const page = await context.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(`console.${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
  try {
    await fn(page);
    console.log(`ok - ${name}`);
    results.push({ name, ok: true });
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}\n  ${e.stack || e}\n  ${logs.join("\n  ")}`);
    results.push({ name, ok: false });
  } finally {
    await page.close();
  }
}

async function open(page, opts) {
  await page.goto(formURL(opts));
  await page.waitForFunction(() => window.__loaded || window.__loadError);
  const err = await page.evaluate(() => window.__loadError);
  assert.equal(err, undefined, `onLoad failed: ${err}`);
}

async function typeDuplicate(page) {
  await type(page, "firstname", "Robert");
  await type(page, "lastname", "Smith");
  await type(page, "emailaddress1", "Robert.Smith@fabrikam.co.uk");
}

let saved = null;

await scenario("typing a duplicate shows a warning with a link to the match", async (page) => {
  await open(page);
  await typeDuplicate(page);
  const note = page.locator('.notification[data-id="dedupegate"]');
  // Checks run as the user types; wait for the one that saw all three columns.
  await page.waitForFunction(() => /email/.test(document.querySelector('.notification[data-id="dedupegate"]')?.textContent || ""));
  const text = await note.textContent();
  assert.match(text, /^Duplicate of Robert Smith/);
  assert.equal(await note.getAttribute("data-level"), "ERROR");
  assert.equal(await page.evaluate(() => window.__xrm.saved.length), 0, "nothing saved by typing");
  const link = page.locator(".recommendation button.action", { hasText: "Open Robert Smith" });
  await link.click();
  const opened = await page.evaluate(() => window.__xrm.opened);
  assert.deepEqual(opened, [{ entityName: "contact", entityId: dupID, openInNewWindow: true }]);
});

await scenario("saving a duplicate opens a dialog; Cancel keeps the form unsaved", async (page) => {
  await open(page);
  await typeDuplicate(page);
  await page.click("#save");
  const dialog = page.locator(".dialog");
  await dialog.waitFor();
  assert.match(await dialog.locator(".text").textContent(), /Robert Smith/);
  const labels = await dialog.locator("button").allTextContents();
  assert.deepEqual(labels, ["Ignore and Save", "Cancel"]);
  await dialog.locator("button", { hasText: "Cancel" }).click();
  await dialog.waitFor({ state: "detached" });
  const log = await page.evaluate(() => window.__xrm);
  assert.equal(log.saved.length, 0, "the duplicate was saved after Cancel");
  assert.ok(log.saveErrors.includes("save cancelled"), "the save was not cancelled");
  assert.equal(await page.inputValue("#dg_overridetoken"), "", "a token was attached after Cancel");
});

await scenario("Ignore and Save attaches the override token and saves", async (page) => {
  await open(page);
  await typeDuplicate(page);
  await page.click("#save");
  const dialog = page.locator(".dialog");
  await dialog.waitFor();
  await dialog.locator("button", { hasText: "Ignore and Save" }).click();
  await page.waitForFunction(() => window.__xrm.saved.length === 1);
  const log = await page.evaluate(() => window.__xrm);
  saved = log.saved[0];
  assert.match(saved.dg_overridetoken || "", /^dg1\./, "no override token in the saved record");
  assert.equal(saved.firstname, "Robert");
  assert.equal(log.dialogs.length, 1);
});

await scenario("saving a unique record opens no dialog", async (page) => {
  await open(page);
  await type(page, "firstname", "Zebedee");
  await type(page, "lastname", "Quirk");
  await type(page, "emailaddress1", "zq@wingtip.net");
  await page.click("#save");
  await page.waitForFunction(() => window.__xrm.saved.length === 1);
  const log = await page.evaluate(() => window.__xrm);
  assert.equal(log.dialogs.length, 0, "a dialog opened for a unique record");
  assert.equal(log.saved[0].dg_overridetoken, null);
  assert.equal(await page.locator('.notification[data-id="dedupegate"]').count(), 0);
});

await scenario("updating the matched record itself is not a duplicate", async (page) => {
  await open(page, { id: dupID });
  await typeDuplicate(page);
  await page.click("#save");
  await page.waitForFunction(() => window.__xrm.saved.length === 1);
  assert.equal(await page.evaluate(() => window.__xrm.dialogs.length), 0);
});

await scenario("an unreachable gateway does not stop the save (failOpen) and says so", async (page) => {
  await open(page, { config: { gatewayUrl: "http://127.0.0.1:9", timeoutMs: 2000 } });
  await typeDuplicate(page);
  await page.click("#save");
  await page.waitForFunction(() => window.__xrm.saved.length === 1);
  const text = await page.locator('.notification[data-id="dedupegate"]').textContent();
  assert.match(text, /unavailable/);
});

await scenario("the same script on an account form (default columns) warns of a duplicate account", async (page) => {
  await open(page, { table: "account", fields: ["name", "telephone1", "address1_postalcode", "websiteurl", "dg_overridetoken"] });
  await type(page, "name", "Contoso Pharmaceuticals Ltd");
  await type(page, "telephone1", "+44 20 7946 0100");
  await type(page, "address1_postalcode", "SW1A 1AA");
  const note = page.locator('.notification[data-id="dedupegate"]');
  await note.waitFor();
  assert.match(await note.textContent(), /Contoso Pharmaceuticals Ltd \(account/);
});

await scenario("the same script on a lead form finds the person already a contact", async (page) => {
  await open(page, { table: "lead", fields: ["firstname", "lastname", "emailaddress1", "companyname", "dg_overridetoken"] });
  await typeDuplicate(page);
  const note = page.locator('.notification[data-id="dedupegate"]');
  await note.waitFor();
  assert.match(await note.textContent(), /Robert Smith \(contact/);
  // The shipped lead-is-contact rule warns: the save goes through without a dialog.
  await page.click("#save");
  await page.waitForFunction(() => window.__xrm.saved.length === 1);
  assert.equal(await page.evaluate(() => window.__xrm.dialogs.length), 0);
});

await context.close();
rmSync(userDataDir, { recursive: true, force: true });
if (saved) {
  console.log("RESULT " + JSON.stringify(saved));
}
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
