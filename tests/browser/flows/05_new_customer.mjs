// An agent records a new customer: errors are shown next to the fields with the values kept, a
// phone that is already in the ledger is pointed out, and the address is picked with cascading
// selects (province → city → district → street) fed by the server.
import { assert, login } from '../helpers.mjs';

export const name = 'new_customer';

async function pick(page, id, value) {
  await page.locator(`#${id} option[value="${value}"]`).waitFor({ state: 'attached' });
  await page.selectOption(`#${id}`, value);
}

export async function run({ page, baseUrl, shot }) {
  await login(page, baseUrl, 'agent');
  const taken = (await page.locator('#customer-rows td.mono').first().innerText()).trim();
  assert.match(taken, /^\d{7,12}$/);

  await page.click('a[href="/customers/new"]');
  await page.waitForURL((u) => u.pathname === '/customers/new');

  // Nothing filled in but a bad phone: errors next to the fields, the phone kept.
  await page.fill('input[name=phone]', '12345');
  await page.click('form button[type=submit].btn-primary');
  await page.locator('.field.invalid').first().waitFor();
  assert.ok((await page.locator('.field.invalid .err').allInnerTexts()).some((t) => t.includes('必填')));
  assert.equal(await page.inputValue('input[name=phone]'), '12345');
  await shot('05-errors');

  // The cascading address.
  await page.fill('input[name=name]', '周建华');
  await page.fill('input[name=phone]', taken);
  await pick(page, 'na-1', '330000');
  await pick(page, 'na-2', '330100');
  await pick(page, 'na-3', '330106');
  const street = await page.locator('#na-4 option:not([value=""])').first().getAttribute('value');
  assert.ok(street && street.startsWith('330106'), 'streets of 西湖区 are offered');
  await page.selectOption('#na-4', street);
  await page.fill('input[name=detail]', '文三路 90 号 3 幢 1201 室');
  await page.fill('input[name="contact.name"]', '周太太');
  await page.click('form button[type=submit].btn-primary');

  // The phone is someone else's: a link to them, and a box to create anyway.
  await page.locator('input[name=allow_duplicate]').waitFor();
  assert.ok((await page.locator('.alert-error a[href^="/customers/"]').count()) === 1, 'links the existing customer');
  assert.equal(await page.inputValue('#na-3'), '330106', 'the address choices are kept');
  await shot('05-duplicate');
  await page.check('input[name=allow_duplicate]');
  await Promise.all([
    page.waitForURL((u) => /^\/customers\/\d+$/.test(u.pathname)),
    page.click('form button[type=submit].btn-primary'),
  ]);
  await page.locator('.alert-ok').waitFor();
  const addresses = await page.locator('#addresses').innerText();
  assert.ok(addresses.includes('浙江省杭州市西湖区') && addresses.includes('文三路 90 号'), addresses);
  assert.ok((await page.locator('#contacts').innerText()).includes('周太太'));
  await shot('05-created');

  // The same page on a tablet.
  await page.setViewportSize({ width: 820, height: 1100 });
  await page.reload();
  await shot('05-created-tablet');
}
