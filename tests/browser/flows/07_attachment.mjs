// Attachments: an agent replies on a ticket with a photo of the fault (the composer's file
// field), sees it listed and previewed; a disguised executable is refused with a readable
// message and nothing is added; the requester adds a photo on the status page (a phone-sized
// screen, no sign-in) and the desk sees it.
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { assert, login } from '../helpers.mjs';

const shots = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'screenshots');

export const name = 'attachment';

function crc32(buf) {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k += 1) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

// A real PNG (w×h, a colour gradient), so the page can preview it.
function png(w, h, seed) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour
  const rows = [];
  for (let y = 0; y < h; y += 1) {
    const row = Buffer.alloc(1 + w * 3);
    for (let x = 0; x < w; x += 1) {
      row[1 + x * 3] = (x * 4 + seed) & 255;
      row[2 + x * 3] = (y * 4) & 255;
      row[3 + x * 3] = 160;
    }
    rows.push(row);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

export async function run({ page, context, baseUrl, shot }) {
  await login(page, baseUrl, 'agent');
  await page.goto(`${baseUrl}/tickets?queue=all`);
  await page.locator('#ticket-rows a[href^="/tickets/"]').first().waitFor();
  const hrefs = await page.locator('#ticket-rows a[href^="/tickets/"]').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  // The first open ticket: it has the composer.
  let ticketUrl = null;
  for (const h of hrefs) {
    await page.goto(`${baseUrl}${h}`);
    if ((await page.locator('#messages form.reply-form').count()) > 0) {
      ticketUrl = page.url().split('?')[0];
      break;
    }
  }
  assert.ok(ticketUrl, 'an open ticket to reply on');
  const before = await page.locator('#attachments tbody tr').count();

  // A reply with a photo.
  const composer = page.locator('#messages form.reply-form');
  await composer.locator('textarea[name=body]').fill('收到照片，质量部会尽快判断。');
  await composer.locator('input[type=file]').setInputFiles({ name: '故障照片.png', mimeType: 'image/png', buffer: png(96, 64, 10) });
  await Promise.all([
    page.waitForURL((u) => u.searchParams.get('flash') === 'ticket_replied'),
    composer.locator('button[name=internal][value=""]').click(),
  ]);
  const rows = page.locator('#attachments tbody tr');
  assert.equal(await rows.count(), before + 1, 'the photo is listed');
  const row = rows.last();
  const text = await row.innerText();
  assert.ok(text.includes('故障照片.png'), text);
  assert.ok(text.includes('PNG'), text);
  const img = row.locator('img');
  await img.waitFor();
  assert.ok(await img.evaluate((el) => el.complete && el.naturalWidth === 96), 'the preview loads');
  assert.ok((await page.locator('#messages').innerText()).includes('故障照片.png'), 'the reply names its file');
  await page.locator('#attachments').scrollIntoViewIfNeeded();
  await shot('07-attachment-listed');

  // An executable named like a photo: refused in words, nothing added.
  await composer.locator('input[type=file]').setInputFiles({
    name: 'photo.jpg',
    mimeType: 'image/jpeg',
    buffer: Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), Buffer.alloc(300, 0x90)]),
  });
  await Promise.all([page.waitForLoadState('load'), composer.locator('button[name=internal][value=""]').click()]);
  const err = await page.locator('#messages form.reply-form .err').innerText();
  assert.ok(err.includes('不支持这种文件'), err);
  await page.goto(ticketUrl);
  assert.equal(await page.locator('#attachments tbody tr').count(), before + 1, 'nothing was added');
  await page.locator('#messages form.reply-form').scrollIntoViewIfNeeded();

  // The requester adds a photo on the status page.
  page.once('dialog', (d) => d.accept());
  await Promise.all([page.waitForLoadState('load'), page.click('form.status-link-form button')]);
  const link = (await page.locator('#status-link').innerText()).trim();
  const phonePage = await context.browser().newPage({ viewport: { width: 390, height: 844 }, locale: 'zh-CN' });
  try {
    await phonePage.goto(link);
    await phonePage.locator('#files').waitFor();
    assert.ok((await phonePage.locator('#files').innerText()).includes('故障照片.png'), 'the requester sees the desk\'s photo');
    await phonePage.locator('#files input[type=file]').setInputFiles({ name: '铭牌.png', mimeType: 'image/png', buffer: png(64, 64, 90) });
    await Promise.all([
      phonePage.waitForURL((u) => u.searchParams.get('done') === 'file'),
      phonePage.click('#files button[type=submit]'),
    ]);
    assert.ok((await phonePage.locator('.alert-ok').innerText()).includes('已收到您的文件'));
    assert.ok((await phonePage.locator('#files').innerText()).includes('铭牌.png'));
    await phonePage.locator('#files').scrollIntoViewIfNeeded();
    await phonePage.screenshot({ path: path.join(shots, '07-status-page-photo-mobile.png'), fullPage: true });
  } finally {
    await phonePage.close();
  }

  // The desk sees the requester's photo.
  await page.goto(ticketUrl);
  const all = await page.locator('#attachments').innerText();
  assert.ok(all.includes('铭牌.png'), all);
  await page.locator('#attachments').scrollIntoViewIfNeeded();
  await shot('07-ticket-attachments');
}
