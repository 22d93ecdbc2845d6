// Finance sees masked phones and cannot reveal them; the administrator's audit log shows the
// sign-ins and changes. Also looks at the administration pages once.
import { assert, login } from '../helpers.mjs';

export const name = 'masking';

export async function run({ page, baseUrl, shot }) {
  await login(page, baseUrl, 'finance');
  await page.waitForURL((u) => u.pathname === '/customers');
  const phones = await page.locator('#customer-rows td.mono').allInnerTexts();
  const shown = phones.filter((p) => p.trim() !== '');
  assert.ok(shown.length > 5, 'phones are listed');
  assert.ok(shown.every((p) => /^\d{3,4}\*{4}\d{4}$/.test(p.trim())), `all masked: ${shown.slice(0, 5).join(', ')}`);
  assert.ok(shown.some((p) => /^1[3-9]\d\*{4}\d{4}$/.test(p.trim())), 'mobiles look like 138****1234');
  assert.equal(await page.locator('a[href="/admin/users"]').count(), 0, 'no administration in the nav');
  await shot('04-finance-list');

  await page.locator('#customer-rows a.strong').first().click();
  await page.waitForURL((u) => /^\/customers\/\d+$/.test(u.pathname));
  const phone = (await page.locator('.cust-meta .phone').innerText()).trim();
  assert.ok(phone.includes('****') || phone === '无电话', `masked on the customer page: ${phone}`);
  assert.equal(await page.locator('[hx-post$="/reveal"]').count(), 0, 'no reveal button for finance');
  assert.equal(await page.locator('.note-form').count(), 0, 'finance adds no notes');
  await shot('04-finance-customer');

  // A page finance may not see is a polite 403.
  const res = await page.goto(`${baseUrl}/admin/audit`);
  assert.equal(res.status(), 403);
  assert.ok((await page.locator('h1').innerText()).includes('没有权限'));

  // Sign out; the administrator reads the audit log.
  await page.click('form[action="/logout"] button');
  await page.waitForURL((u) => u.pathname === '/login');
  await login(page, baseUrl, 'admin');
  await page.goto(`${baseUrl}/admin/audit`);
  const rows = page.locator('table.audit tbody tr');
  assert.ok((await rows.count()) > 5, 'the audit log has entries');
  await page.selectOption('select[name=action]', 'login');
  await Promise.all([page.waitForURL((u) => u.search.includes('action=login')), page.click('form.filters button[type=submit]')]);
  const logins = await page.locator('table.audit tbody tr').allInnerTexts();
  assert.ok(logins.some((r) => r.includes('finance')), 'finance signing in is recorded');
  await page.locator('table.audit details').first().locator('summary').click();
  await shot('04-audit');

  // The administration pages, in English this time.
  await page.click('a.top-link[hreflang=en]');
  await page.waitForURL((u) => u.pathname === '/admin/audit');
  assert.ok((await page.locator('h1').innerText()).includes('Audit log'));
  for (const [path, title] of [
    ['/admin/users', 'Users'],
    ['/admin/roles', 'Roles and permissions'],
    ['/admin/org-units', 'Organisation'],
    ['/admin/tokens', 'API tokens'],
  ]) {
    await page.goto(`${baseUrl}${path}`);
    assert.ok((await page.locator('h1').innerText()).includes(title), path);
    await shot(`04-admin-${path.split('/').pop()}`);
  }
}
