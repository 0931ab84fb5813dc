import { html } from '../html.ts';
import { page } from '../layout.ts';

/** `GET /login`: the form that takes an API key (auth on); `error` after a key that failed. */
export function loginPage(options: { next: string; token: string; error?: string }): string {
  const body = html`<h1>Sign in</h1>
<section class="card narrow">
  <p>Paste an API key. A <strong>read</strong> key shows every page; an <strong>admin</strong> key also approves, rejects and rolls back versions.
  The key is checked once and never stored in your browser: the session cookie holds its hash, signed, for 12 hours.</p>
  ${options.error === undefined ? '' : html`<p class="notice error" role="alert">${options.error}</p>`}
  <form method="post" action="/login">
    <input type="hidden" name="next" value="${options.next}">
    <input type="hidden" name="_csrf" value="${options.token}">
    <p><label for="key">API key</label><br>
    <input id="key" name="key" type="password" autocomplete="current-password" required size="60" autofocus></p>
    <p><button type="submit" class="action">Sign in</button></p>
  </form>
  <p class="muted">No key? An operator makes one with <code>npx almanac keys create --name you --scope read</code>.</p>
</section>`;
  return page({ title: 'Sign in', viewer: undefined, body });
}
