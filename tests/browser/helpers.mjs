// Small helpers shared by flows/*.mjs.
import assert from 'node:assert/strict';

export { assert };

export const DEMO_PASSWORD = 'kefu-demo';

// Signs in through the login form and waits for the redirect away from /login.
export async function login(page, baseUrl, user, password = DEMO_PASSWORD) {
  await page.goto(`${baseUrl}/login`);
  await page.fill('input[name=login]', user);
  await page.fill('input[name=password]', password);
  await Promise.all([
    page.waitForURL((url) => url.pathname !== '/login'),
    page.click('button[type=submit]'),
  ]);
}
