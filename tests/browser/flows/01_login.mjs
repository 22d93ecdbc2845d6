// An agent signs in with the demo password and lands on the customer list.
import { login } from '../helpers.mjs';

export const name = 'login';

export async function run({ page, baseUrl, shot }) {
  await login(page, baseUrl, 'agent', 'kefu-demo');
  await page.waitForURL((url) => url.pathname === '/customers');
  await page.locator('h1').first().waitFor({ state: 'visible' });
  await shot('login');
}
