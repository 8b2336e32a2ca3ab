// Drives Debian's Chromium (never a downloaded browser) through
// playwright-core against a real `tessera serve`, from a single-page
// application served on another origin of the same site (another port of
// 127.0.0.1: cookies are per host, not per port, so the application and
// Tessera share one cookie jar, as an app.example.com and an
// auth.example.com under one registrable domain share `Clear-Site-Data`).
//
// Run by crates/tessera/tests/browser.rs, which starts the servers and
// passes: TESSERA_URL, SPA_URL (an allowed origin), EVIL_URL (a same-site
// origin that is not allowed), TESSERA_PASSWORD, CHROMIUM; the suite name
// is the first argument. Every check that fails throws with what it saw;
// the process then exits 1 and the Rust test prints the output.
'use strict';

const { chromium } = require('playwright-core');

const TESSERA = need('TESSERA_URL');
const SPA = need('SPA_URL');
const EVIL = need('EVIL_URL');
const PASSWORD = need('TESSERA_PASSWORD');
const CHROMIUM = need('CHROMIUM');

// Tessera's cookie names (secure cookies: the default).
const SESSION = '__Host-tessera_session';
const AT = '__Host-tessera_at';
const RT = '__Secure-tessera_rt';
const CSRF = '__Host-tessera_csrf';
const HYBRID = [AT, RT, CSRF];
/// The application's own cookie, which no logout may touch.
const APP = 'app_pref';

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run through crates/tessera/tests/browser.rs)`);
  return v;
}

function check(cond, what, seen) {
  if (!cond) throw new Error(`${what}; saw: ${JSON.stringify(seen)}`);
}

/// One browser tab on `origin`'s page, in a fresh cookie jar.
async function tab(browser, origin) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${origin}/`);
  return { context, page };
}

/// A `fetch` from the page's own origin to Tessera with `credentials:
/// 'include'`, as a SPA makes it: `{status, json}`. A fetch the browser
/// refuses (CORS) comes back as `{refused: message}`.
async function api(page, method, path, { json, csrf, mode } = {}) {
  return page.evaluate(
    async ({ url, method, json, csrf, mode }) => {
      const headers = {};
      let body;
      if (json !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(json);
      }
      if (csrf !== undefined) headers['x-csrf-token'] = csrf;
      let res;
      try {
        res = await fetch(url, { method, headers, body, credentials: 'include', mode: mode || 'cors' });
      } catch (e) {
        return { refused: String(e) };
      }
      const text = await res.text();
      let parsed = null;
      try {
        parsed = JSON.parse(text);
      } catch (_) {
        parsed = null;
      }
      return { status: res.status, type: res.type, json: parsed };
    },
    { url: `${TESSERA}${path}`, method, json, csrf, mode },
  );
}

function expectStatus(res, status, what) {
  check(res.status === status, `${what}: expected ${status}`, res);
  return res;
}

async function sessionLogin(page, user) {
  const res = expectStatus(
    await api(page, 'POST', '/v1/session/login', { json: { username: user, password: PASSWORD } }),
    200,
    `session login of ${user}`,
  );
  return res.json.csrf_token;
}

async function hybridLogin(page, user) {
  const res = expectStatus(
    await api(page, 'POST', '/v1/hybrid/login', { json: { username: user, password: PASSWORD } }),
    200,
    `hybrid login of ${user}`,
  );
  return res.json.csrf_token;
}

/// The application sets its own cookie, from its own page (host-wide, as
/// `document.cookie` does).
async function setAppCookie(page) {
  await page.evaluate((name) => {
    document.cookie = `${name}=dark; Path=/; Max-Age=3600; SameSite=Lax`;
  }, APP);
}

/// Names of the cookies the browser holds for the host.
async function cookieNames(context) {
  return (await context.cookies()).map((c) => c.name).sort();
}

/// The user whose session cookie is live, or null (401).
async function sessionUser(page) {
  const res = await api(page, 'GET', '/v1/session');
  if (res.status === 401) return null;
  expectStatus(res, 200, 'GET /v1/session');
  return res.json.user.username;
}

/// The kind of the request's own login per `GET /v1/sessions`, and its id.
async function currentLogin(page) {
  const res = expectStatus(await api(page, 'GET', '/v1/sessions'), 200, 'GET /v1/sessions');
  const mine = res.json.sessions.filter((s) => s.current);
  check(mine.length === 1, 'exactly one current login', res.json);
  return mine[0];
}

/// After a logout: the application's cookie is still there, `gone` are not,
/// `kept` are.
async function expectCookies(context, what, { gone, kept }) {
  const names = await cookieNames(context);
  check(names.includes(APP), `${what}: the application's own ${APP} cookie survives`, names);
  for (const n of gone) check(!names.includes(n), `${what}: Tessera's ${n} is cleared`, names);
  for (const n of kept) check(names.includes(n), `${what}: the other login's ${n} survives`, names);
}

// ------------------------------------------------------------------ suites

/// Every kind of logout clears Tessera's cookies of the login it ended, and
/// nothing else: the application's cookie and a login of the other cookie
/// mode in the same browser live on.
const logoutCases = {
  async 'session logout'(browser) {
    const { context, page } = await tab(browser, SPA);
    await setAppCookie(page);
    const csrf = await sessionLogin(page, 'alice');
    await hybridLogin(page, 'alice');
    expectStatus(await api(page, 'POST', '/v1/session/logout', { csrf }), 204, 'session logout');
    await expectCookies(context, 'session logout', { gone: [SESSION], kept: HYBRID });
    check((await sessionUser(page)) === null, 'the session is over', null);
    check((await currentLogin(page)).kind === 'hybrid', 'the hybrid login lives on', null);
    await context.close();
  },

  async 'hybrid logout'(browser) {
    const { context, page } = await tab(browser, SPA);
    await setAppCookie(page);
    await sessionLogin(page, 'alice');
    const csrf = await hybridLogin(page, 'alice');
    expectStatus(await api(page, 'POST', '/v1/hybrid/logout', { csrf }), 204, 'hybrid logout');
    await expectCookies(context, 'hybrid logout', { gone: HYBRID, kept: [SESSION] });
    check((await sessionUser(page)) === 'alice', 'the session-mode login lives on', null);
    await context.close();
  },

  // The credential order reads the hybrid cookie first, so a logout-all made
  // with the hybrid cookie is bob's; alice's session in the same browser is
  // another user's live login and keeps its cookie.
  async 'logout-all by hybrid cookie'(browser) {
    const { context, page } = await tab(browser, SPA);
    await setAppCookie(page);
    await sessionLogin(page, 'alice');
    const csrf = await hybridLogin(page, 'bob');
    expectStatus(await api(page, 'POST', '/v1/logout-all', { csrf }), 204, 'logout-all by hybrid');
    await expectCookies(context, 'logout-all by hybrid cookie', { gone: HYBRID, kept: [SESSION] });
    check((await sessionUser(page)) === 'alice', "alice's session lives on", null);
    await context.close();
  },

  // By the session cookie: only without a hybrid cookie (which would be read
  // first), so the other mode here is a hybrid login on no cookie at all.
  async 'logout-all by session cookie'(browser) {
    const { context, page } = await tab(browser, SPA);
    await setAppCookie(page);
    const csrf = await sessionLogin(page, 'alice');
    check((await currentLogin(page)).kind === 'session', 'the request is by session cookie', null);
    expectStatus(await api(page, 'POST', '/v1/logout-all', { csrf }), 204, 'logout-all by session');
    await expectCookies(context, 'logout-all by session cookie', { gone: [SESSION], kept: [] });
    check((await sessionUser(page)) === null, 'the session is over', null);
    await context.close();
  },

  async 'DELETE /v1/sessions/{id} of the current hybrid login'(browser) {
    const { context, page } = await tab(browser, SPA);
    await setAppCookie(page);
    await sessionLogin(page, 'alice');
    const csrf = await hybridLogin(page, 'alice');
    const me = await currentLogin(page);
    check(me.kind === 'hybrid', 'the request is by hybrid cookie', me);
    const res = await api(page, 'DELETE', `/v1/sessions/${me.id}`, { csrf });
    expectStatus(res, 204, 'DELETE own hybrid login');
    await expectCookies(context, 'DELETE own hybrid login', { gone: HYBRID, kept: [SESSION] });
    check((await sessionUser(page)) === 'alice', 'the session-mode login lives on', null);
    await context.close();
  },

  async 'DELETE /v1/sessions/{id} of the current session'(browser) {
    const { context, page } = await tab(browser, SPA);
    await setAppCookie(page);
    const csrf = await sessionLogin(page, 'alice');
    const me = await currentLogin(page);
    check(me.kind === 'session', 'the request is by session cookie', me);
    const res = await api(page, 'DELETE', `/v1/sessions/${me.id}`, { csrf });
    expectStatus(res, 204, 'DELETE own session');
    await expectCookies(context, 'DELETE own session', { gone: [SESSION], kept: [] });
    check((await sessionUser(page)) === null, 'the session is over', null);
    await context.close();
  },
};

/// The session, CSRF and hybrid flows of a SPA on another origin of the same
/// site, allowed by `TESSERA_ALLOWED_ORIGINS`, with `credentials: 'include'`.
const spaCases = {
  async 'session mode end to end'(browser) {
    const { context, page } = await tab(browser, SPA);
    const csrf = await sessionLogin(page, 'alice');
    const names = await cookieNames(context);
    check(names.includes(SESSION), 'the session cookie is set', names);
    const me = expectStatus(await api(page, 'GET', '/v1/session'), 200, 'GET /v1/session');
    check(me.json.user.username === 'alice' && me.json.csrf_token === csrf, 'the session', me);
    const put = await api(page, 'PUT', '/v1/session/data', { json: { theme: 'dark' }, csrf });
    expectStatus(put, 204, 'PUT /v1/session/data with the CSRF header');
    const bare = await api(page, 'PUT', '/v1/session/data', { json: { theme: 'evil' } });
    expectStatus(bare, 403, 'PUT /v1/session/data without the CSRF header');
    check(bare.json && bare.json.error === 'csrf_failed', 'refused as csrf_failed', bare);
    const data = expectStatus(await api(page, 'GET', '/v1/session/data'), 200, 'GET data');
    check(data.json.theme === 'dark', 'the data is the CSRF-carrying PUT', data);
    expectStatus(await api(page, 'POST', '/v1/session/logout', { csrf }), 204, 'session logout');
    check((await sessionUser(page)) === null, 'logged out', null);
    await context.close();
  },

  async 'hybrid mode end to end'(browser) {
    const { context, page } = await tab(browser, SPA);
    const csrf = await hybridLogin(page, 'alice');
    // The CSRF cookie is readable by the application's scripts (same host),
    // the token cookies are not (HttpOnly).
    const visible = await page.evaluate(() => document.cookie);
    check(visible.includes(`${CSRF}=${csrf}`), 'the page reads the CSRF cookie', visible);
    check(!visible.includes(AT) && !visible.includes(RT), 'the tokens are HttpOnly', visible);
    const me = await currentLogin(page);
    check(me.kind === 'hybrid', 'GET /v1/sessions by the hybrid cookie', me);
    const bare = await api(page, 'POST', '/v1/hybrid/refresh');
    expectStatus(bare, 403, 'refresh without the CSRF header');
    const tokenCookie = async () => (await context.cookies()).find((c) => c.name === AT);
    const before = await tokenCookie();
    const rotated = expectStatus(
      await api(page, 'POST', '/v1/hybrid/refresh', { csrf }),
      200,
      'refresh with the CSRF header',
    );
    const csrf2 = rotated.json.csrf_token;
    const after = await page.evaluate(() => document.cookie);
    check(after.includes(`${CSRF}=${csrf2}`), 'the CSRF cookie matches the body', after);
    const rotatedAt = await tokenCookie();
    check(rotatedAt && rotatedAt.value !== before.value, 'the access-token cookie rotated', null);
    check((await currentLogin(page)).id === me.id, 'the same login after refresh', null);
    expectStatus(await api(page, 'POST', '/v1/hybrid/logout', { csrf: csrf2 }), 204, 'logout');
    const names = await cookieNames(context);
    for (const n of HYBRID) check(!names.includes(n), `${n} cleared`, names);
    expectStatus(await api(page, 'GET', '/v1/sessions'), 401, 'the login is over');
    await context.close();
  },
};

/// A page on a same-site origin that is not allowed: the browser sends the
/// victim's cookies with its requests (same site), and Tessera refuses.
const attackCases = {
  async 'a non-allowed origin posting with the victim cookies is refused'(browser) {
    const victim = await tab(browser, SPA);
    const csrf = await sessionLogin(victim.page, 'alice');
    // The attacker's page, in the victim's browser (same cookie jar).
    const evil = await victim.context.newPage();
    await evil.goto(`${EVIL}/`);
    // It cannot read the CSRF token: no CORS grant for its origin.
    const read = await api(evil, 'GET', '/v1/session');
    check(read.refused !== undefined, 'a cross-origin read of /v1/session is refused', read);
    // A form post carries the cookies; even with the right token (leaked),
    // the origin guard refuses it.
    await evil.evaluate(
      ({ action, token }) => {
        const form = document.createElement('form');
        form.method = 'POST';
        form.action = action;
        const field = document.createElement('input');
        field.name = 'csrf_token';
        field.value = token;
        form.appendChild(field);
        document.body.appendChild(form);
        form.submit();
      },
      { action: `${TESSERA}/v1/session/logout`, token: csrf },
    );
    await evil.waitForURL(`${TESSERA}/v1/session/logout`);
    const text = await evil.evaluate(() => document.body.innerText);
    let answer = null;
    try {
      answer = JSON.parse(text);
    } catch (_) {
      answer = text;
    }
    check(answer && answer.error === 'csrf_failed', 'the form post is refused csrf_failed', answer);
    // A no-cors fetch (no preflight) with the cookies: refused too.
    await evil.goto(`${EVIL}/`);
    const blind = await api(evil, 'POST', '/v1/logout-all', { mode: 'no-cors' });
    check(blind.type === 'opaque', 'a no-cors post goes out blind', blind);
    // A fetch with the token header needs a preflight, which is not granted.
    const pre = await api(evil, 'PUT', '/v1/session/data', { json: { theme: 'evil' }, csrf });
    check(pre.refused !== undefined, 'the preflight is refused', pre);
    // Nothing happened to the victim.
    check((await sessionUser(victim.page)) === 'alice', "the victim's session lives on", null);
    const data = expectStatus(await api(victim.page, 'GET', '/v1/session/data'), 200, 'data');
    check(JSON.stringify(data.json) === '{}', 'the data is untouched', data);
    await victim.context.close();
  },
};

const suites = { logout: logoutCases, spa: spaCases, attack: attackCases };

async function main() {
  const name = process.argv[2];
  const cases = suites[name];
  if (!cases) throw new Error(`unknown suite ${JSON.stringify(name)}: one of ${Object.keys(suites)}`);
  // --no-sandbox: Chromium's sandbox refuses to start as root (CI runs as
  // root). --disable-dev-shm-usage: containers often have a tiny /dev/shm.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  const failures = [];
  try {
    for (const [title, run] of Object.entries(cases)) {
      try {
        await run(browser);
        console.log(`ok   ${name}: ${title}`);
      } catch (e) {
        console.log(`FAIL ${name}: ${title}: ${e.message}`);
        failures.push(title);
      }
    }
  } finally {
    await browser.close();
  }
  if (failures.length > 0) {
    console.log(`${failures.length} of ${Object.keys(cases).length} failed`);
    process.exit(1);
  }
}

main().catch((e) => {
  console.log(`FAIL: ${e.stack || e}`);
  process.exit(1);
});
