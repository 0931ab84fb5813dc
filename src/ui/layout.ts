import { type Html, html } from './html.ts';
import type { Viewer } from './session.ts';

/**
 * The page around every dashboard view: the navigation (models, the API reference), who is
 * logged in and how to leave, a link to the JSON the page shows, and the stylesheet. Pages work
 * without JavaScript.
 */
export function page(options: {
  title: string;
  viewer: Viewer | undefined;
  body: Html;
  /** the JSON (read-only, through the dashboard's session) that the page shows */
  json?: string;
  crumbs?: { label: string; href?: string }[];
}): string {
  const { viewer } = options;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · Almanac</title>
<link rel="stylesheet" href="/assets/dashboard.css">
</head>
<body>
<a class="skip" href="#content">Skip to the content</a>
<header class="top"><nav class="bar" aria-label="Almanac">
  <a class="brand" href="/">Almanac</a>
  <a href="/">Models</a>
  <a href="/docs">API reference</a>
  ${options.json === undefined ? '' : html`<a href="${options.json}">This page as JSON</a>`}
  <span class="who">${
    viewer === undefined
      ? ''
      : viewer.anonymous
        ? html`<span>auth is off</span>`
        : html`<span>signed in as <strong>${viewer.name}</strong> (${viewer.scopes.includes('admin') ? 'admin' : 'read'})</span>
        <form method="post" action="/logout"><input type="hidden" name="_csrf" value="${viewer.csrf}"><button type="submit">Log out</button></form>`
  }</span>
</nav></header>
<main id="content">
${
  options.crumbs === undefined
    ? ''
    : html`<p class="crumbs">${options.crumbs.map(
        (crumb, i) =>
          html`${i > 0 ? ' / ' : ''}${crumb.href === undefined ? crumb.label : html`<a href="${crumb.href}">${crumb.label}</a>`}`,
      )}</p>`
}
${options.body}
</main>
<footer>Almanac: estimates as a service. Every page has its JSON; the <a href="/docs">API reference</a> documents it.</footer>
</body>
</html>
`.markup;
}

/** A page shown in a frame of another (a model's runs): no navigation, links open in the whole window. */
export function framePage(options: { title: string; body: Html; refreshSeconds?: number }): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
${options.refreshSeconds === undefined ? '' : html`<meta http-equiv="refresh" content="${options.refreshSeconds}">`}
<title>${options.title} · Almanac</title>
<link rel="stylesheet" href="/assets/dashboard.css">
</head>
<body class="frame">
<main>
${options.body}
</main>
</body>
</html>
`.markup;
}

/** A state as a coloured badge (its words carry the meaning; the colour only repeats it). */
export function badge(state: string): Html {
  return html`<span class="badge ${state}">${state}</span>`;
}
