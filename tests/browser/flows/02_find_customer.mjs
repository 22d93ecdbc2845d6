// An agent finds a customer by name prefix and by phone, opens the customer page, sees the
// devices and the timeline, and adds a note that appears on top without a page load.
import { assert, login } from '../helpers.mjs';

export const name = 'find_customer';

// Waits for the live search (htmx, 300 ms debounce) to answer for `q`.
async function search(page, q) {
  const answered = page.waitForResponse(
    (r) => r.url().includes('/customers?') && r.url().includes(`q=${encodeURIComponent(q)}`) && r.status() === 200,
  );
  await page.fill('#q', '');
  await page.locator('#q').pressSequentially(q, { delay: 40 });
  await answered;
  await page.waitForTimeout(100); // let htmx swap the rows in
}

export async function run({ page, baseUrl, shot }) {
  await login(page, baseUrl, 'agent');
  await page.waitForURL((url) => url.pathname === '/customers');

  // A customer with at least one device, found the way an agent would: open rows in turn.
  const hrefs = await page.locator('#customer-rows a.strong').evaluateAll((as) => as.slice(0, 12).map((a) => a.getAttribute('href')));
  assert.ok(hrefs.length > 0, 'the list shows customers');
  let chosen = null;
  for (const href of hrefs) {
    await page.goto(`${baseUrl}${href}`);
    if ((await page.locator('#devices a[href^="/devices/"]').count()) > 0) {
      chosen = href;
      break;
    }
  }
  assert.ok(chosen, 'one of the first customers owns a device');
  const fullName = (await page.locator('h1').first().innerText()).split('\n')[0].trim();
  const custName = fullName.replace(/\s*(个人客户|经销商|品牌客户).*$/, '').trim();
  const phone = (await page.locator('.cust-meta .phone').innerText()).trim();
  assert.match(phone, /^\d{7,12}$/, `an agent sees the whole number, got ${phone}`);

  // Search by the first two characters of the name.
  await page.goto(`${baseUrl}/customers`);
  const prefix = [...custName].slice(0, 2).join('');
  await search(page, prefix);
  const byName = page.locator('#customer-rows a.strong', { hasText: custName });
  assert.ok((await byName.count()) > 0, `searching ${prefix} lists ${custName}`);
  const names = await page.locator('#customer-rows a.strong').allInnerTexts();
  assert.ok(names.every((n) => n.startsWith(prefix)), `every row starts with ${prefix}: ${names.join(', ')}`);
  assert.ok(page.url().includes(`q=${encodeURIComponent(prefix)}`), 'the search is in the address bar');
  await shot('02-search-by-name');

  // Search by the first seven digits of the phone.
  await search(page, phone.slice(0, 7));
  assert.ok((await page.locator('#customer-rows a.strong', { hasText: custName }).count()) > 0, 'found by phone');
  await shot('02-search-by-phone');

  // Open the customer: devices and a timeline.
  await Promise.all([page.waitForURL((u) => u.pathname === chosen), page.locator(`#customer-rows a[href="${chosen}"]`).first().click()]);
  await page.locator('#devices a[href^="/devices/"]').first().waitFor();
  const entries = await page.locator('#tl-list > li').count();
  assert.ok(entries > 0, 'the timeline has entries');
  await shot('02-customer');

  // Add a note; it appears on top of the timeline without reloading the page.
  const text = `客户来电:滤芯更换后水压正常,满意 ${Date.now() % 100000}`;
  await page.selectOption('.note-form select[name=category]', 'service');
  await page.fill('.note-form textarea[name=body]', text);
  const marker = await page.evaluate(() => { window.__kefuNoReload = true; return true; });
  assert.ok(marker);
  await page.click('.note-form button[type=submit]');
  await page.locator('#tl-list > li').first().filter({ hasText: text }).waitFor();
  assert.equal(await page.evaluate(() => window.__kefuNoReload === true), true, 'no page load');
  assert.equal(await page.locator('#tl-list > li').count(), entries + 1);
  assert.equal(await page.inputValue('.note-form textarea[name=body]'), '', 'the form is cleared');
  const first = await page.locator('#tl-list > li').first().innerText();
  assert.ok(first.includes('服务评价') && first.includes('李晓萌'), `category and author shown: ${first}`);
  await shot('02-note-added');

  // An empty note is refused next to the form.
  await page.fill('.note-form textarea[name=body]', '   ');
  await page.click('.note-form button[type=submit]');
  await page.locator('#note-error .err').waitFor();
  assert.equal(await page.locator('#tl-list > li').count(), entries + 1);

  // It is still there after a reload, and on the device's own page the device is described.
  await page.reload();
  assert.ok((await page.locator('#tl-list > li').first().innerText()).includes(text));
  await page.locator('#devices a[href^="/devices/"]').first().click();
  await page.waitForURL((u) => u.pathname.startsWith('/devices/'));
  await page.locator('#timeline').waitFor();
  await shot('02-device');
}
