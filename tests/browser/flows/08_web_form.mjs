// The public request form in WeChat's in-app browser on a phone (390 px): a stranger asks the
// brand 清泉净水 (code QQ) for a repair without signing in, gets a ticket number and the signed
// status link, and opens the link to see the request. The page runs with JavaScript off: the
// form must not need it.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { assert } from '../helpers.mjs';

const shots = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'screenshots');

export const name = 'web_form';

const WECHAT_UA =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.44(0x18002c2f) NetType/WIFI Language/zh_CN';

export async function run({ context, baseUrl }) {
  const phone = context.browser();
  const wx = await phone.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    userAgent: WECHAT_UA,
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
    javaScriptEnabled: false,
  });
  try {
    const page = await wx.newPage();
    await page.goto(`${baseUrl}/help/QQ`);
    assert.ok((await page.locator('.pub-brand').innerText()).includes('清泉净水'));
    const width = await page.evaluate(() => document.documentElement.scrollWidth).catch(() => null);
    if (width !== null) assert.ok(width <= 390, `no sideways scrolling (${width}px)`);
    await page.screenshot({ path: path.join(shots, '08-web-form-mobile.png'), fullPage: true });

    // A mistake first: the phone is wrong; the form comes back with the text kept.
    const mobile = `139${String(Date.now()).slice(-8)}`;
    await page.fill('input[name=name]', '林女士');
    await page.fill('input[name=phone]', '12345');
    await page.check('input[name=kind][value=repair_request]');
    await page.fill('input[name=product]', 'QQ-RO500');
    await page.fill('input[name=address]', '杭州市西湖区文三路 90 号');
    await page.fill('textarea[name=description]', '净水器出水很慢，滤芯灯一直亮');
    await Promise.all([page.waitForLoadState('load'), page.click('.help-form button[type=submit]')]);
    assert.ok((await page.locator('.help-form .err').first().innerText()).length > 0, 'the phone is marked');
    assert.equal(await page.inputValue('textarea[name=description]'), '净水器出水很慢，滤芯灯一直亮');
    assert.ok(await page.isChecked('input[name=kind][value=repair_request]'));
    await page.screenshot({ path: path.join(shots, '08-web-form-error-mobile.png'), fullPage: true });

    await page.fill('input[name=phone]', mobile);
    await Promise.all([page.waitForLoadState('load'), page.click('.help-form button[type=submit]')]);
    const done = await page.locator('.help-done').innerText();
    assert.ok(done.includes('已收到您的服务请求'), done);
    const number = (await page.locator('.help-number strong').innerText()).trim();
    assert.match(number, /^KF\d{8}-\d{6}$/);
    const link = await page.locator('.help-done a.btn').getAttribute('href');
    assert.ok(link.includes(`/t/${number}?k=`), link);
    await page.screenshot({ path: path.join(shots, '08-web-form-done-mobile.png'), fullPage: true });

    // The status link, as the requester opens it.
    await Promise.all([page.waitForLoadState('load'), page.click('.help-done a.btn')]);
    const status = await page.locator('main').innerText();
    assert.ok(status.includes(number), status);
    assert.ok(status.includes('净水器出水很慢'), status);
    await page.screenshot({ path: path.join(shots, '08-web-form-status-mobile.png'), fullPage: true });
  } finally {
    await wx.close();
  }
}
