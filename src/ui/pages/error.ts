import type { FieldIssue } from '../../errors.ts';
import { html } from '../html.ts';
import { page } from '../layout.ts';
import type { Viewer } from '../session.ts';

/** A page's error, as src/classify-error.ts classified it: its status and the sentence the API would say. */
export function errorPage(
  status: number,
  detail: string,
  issues: readonly FieldIssue[] | undefined,
  viewer: Viewer | undefined,
): string {
  const body = html`<h1>${status === 404 ? 'Not found' : status === 403 ? 'Not allowed' : status >= 500 ? 'Something failed' : 'That did not work'}</h1>
<section class="card">
  <div class="notice error" role="alert"><p>${detail}</p>${
    issues === undefined || issues.length === 0
      ? ''
      : html`<ul>${issues.map((issue) => html`<li><code>${issue.path}</code>: ${issue.message}</li>`)}</ul>`
  }</div>
  <p><a href="/">Back to the models</a></p>
</section>`;
  return page({ title: `Error ${status}`, viewer, body });
}
