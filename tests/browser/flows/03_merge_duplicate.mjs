// A manager merges a pair of customers sharing a phone; the survivor's timeline shows the merge
// and the merged record points at the survivor.
import { assert, login } from '../helpers.mjs';

export const name = 'merge_duplicate';

export async function run({ page, baseUrl, shot }) {
  await login(page, baseUrl, 'manager');
  await page.goto(`${baseUrl}/customers/duplicates`);
  const group = page.locator('form.dup-group').first();
  await group.waitFor();
  const before = await page.locator('form.dup-group').count();
  await shot('03-duplicates');

  const survivor = await group.locator('input[name=survivor]:checked').getAttribute('value');
  const members = await group.locator('input[name=member]').evaluateAll((els) => els.map((e) => e.value));
  const others = members.filter((m) => m !== survivor);
  assert.ok(others.length >= 1, 'a group has at least two customers');
  const otherNames = [];
  for (const id of others) {
    otherNames.push((await group.locator(`tr:has(input[value="${id}"]) a.strong`).innerText()).trim());
  }

  page.once('dialog', (d) => d.accept());
  await Promise.all([
    page.waitForURL((u) => u.pathname === `/customers/${survivor}`),
    group.locator('button[type=submit]').click(),
  ]);
  await page.locator('.alert-ok').waitFor();
  const merged = page.locator('#tl-list > li.tl-merged');
  assert.ok((await merged.count()) >= others.length, 'the merge is on the timeline');
  const mergedText = await merged.first().innerText();
  assert.ok(otherNames.some((n) => mergedText.includes(n)), `the entry names the merged customer: ${mergedText}`);
  await shot('03-survivor');

  await page.goto(`${baseUrl}/customers/${others[0]}`);
  await page.locator('.alert-warn').waitFor();
  assert.ok((await page.locator(`.alert-warn a[href="/customers/${survivor}"]`).count()) === 1, 'the tombstone links to the survivor');
  await shot('03-tombstone');

  await page.goto(`${baseUrl}/customers/duplicates`);
  assert.equal(await page.locator('form.dup-group').count(), before - 1, 'one group fewer');
}
