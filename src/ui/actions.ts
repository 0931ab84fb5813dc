import type { VersionState } from '../db/types.ts';
import { type Html, html } from './html.ts';
import { pagePath } from './paths.ts';
import type { Viewer } from './session.ts';

/**
 * An admin's buttons for a version: approve or reject a held one, roll back to a superseded one.
 * Each is a plain form with its reason and the session's CSRF token, so it works without script.
 * The form says the state the page showed (`from`): a page gone stale while another operator
 * acted cannot turn an approval into a rollback.
 */
export function actionsFor(
  model: string,
  version: { number: number; state: VersionState },
  viewer: Viewer,
): Html | string {
  if (version.state !== 'held' && version.state !== 'superseded') return '';
  const n = version.number;
  // Enter in the reason field submits with the form's first button: this disabled one, so Enter
  // does nothing and a decision is always a click on the button that names it.
  return html`<form class="inline" method="post" action="${pagePath.action(model, n, 'publish')}">
  <button type="submit" disabled hidden aria-hidden="true">nothing</button>
  <input type="hidden" name="_csrf" value="${viewer.csrf}">
  <input type="hidden" name="from" value="${version.state}">
  <input type="text" name="reason" maxlength="1000" placeholder="reason (optional)" aria-label="reason for the decision on v${n}">
  ${
    version.state === 'held'
      ? html`<button type="submit" class="action">Approve v${n}</button>
  <button type="submit" class="action danger" formaction="${pagePath.action(model, n, 'reject')}">Reject v${n}</button>`
      : html`<button type="submit" class="action">Roll back to v${n}</button>`
  }
</form>`;
}
