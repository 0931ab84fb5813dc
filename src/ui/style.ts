/**
 * The dashboard's one stylesheet, served at /assets/dashboard.css. Colours keep text at a contrast
 * of at least 4.5:1 against its background (the browser test runs axe on every page).
 */
export const STYLESHEET = `
:root {
  --ink: #1b1f24; --muted: #4d5661; --line: #d5dae0; --paper: #ffffff; --wash: #f4f6f8;
  --accent: #0b5cad; --good: #1d6b34; --good-bg: #e3f3e6; --warn: #7a4a00; --warn-bg: #fdf0d5;
  --bad: #a4161a; --bad-bg: #fbe3e4; --info: #0b4f8a; --info-bg: #e1eefa; --dim: #4a525b; --dim-bg: #eceff2;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
}
* { box-sizing: border-box; }
body { margin: 0; line-height: 1.45; background: var(--wash); }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, select:focus-visible, input:focus-visible { outline: 3px solid #f2a900; outline-offset: 2px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: 0.5rem; background: var(--paper); padding: 0.5rem; z-index: 2; }
header.top { background: #13243a; color: #ffffff; }
header.top .bar { max-width: 1180px; margin: 0 auto; padding: 0.6rem 1.2rem; display: flex; gap: 1.2rem; align-items: center; flex-wrap: wrap; }
header.top a { color: #ffffff; text-decoration: none; }
header.top a:hover { text-decoration: underline; }
header.top .brand { font-weight: 700; font-size: 1.1rem; letter-spacing: 0.02em; }
header.top .who { margin-left: auto; display: flex; gap: 0.8rem; align-items: center; font-size: 0.9rem; }
header.top form { margin: 0; }
header.top button { background: transparent; color: #ffffff; border: 1px solid #8fa6c2; border-radius: 4px; padding: 0.2rem 0.6rem; cursor: pointer; }
main { max-width: 1180px; margin: 0 auto; padding: 1.2rem; }
h1 { font-size: 1.5rem; margin: 0.2rem 0 0.8rem; }
h2 { font-size: 1.15rem; margin: 1.6rem 0 0.6rem; }
.crumbs { font-size: 0.9rem; color: var(--muted); margin: 0; }
.lede { color: var(--muted); margin-top: -0.4rem; }
section.card.narrow { max-width: 44rem; }
section.card { background: var(--paper); border: 1px solid var(--line); border-radius: 8px; padding: 1rem 1.2rem; margin: 1rem 0; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.92rem; }
th, td { text-align: left; padding: 0.4rem 0.6rem; border-bottom: 1px solid var(--line); vertical-align: middle; }
th { font-weight: 600; color: var(--muted); white-space: nowrap; }
td.time { white-space: nowrap; font-variant-numeric: tabular-nums; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.4rem; }
.badge { display: inline-block; border-radius: 999px; padding: 0.05rem 0.55rem; font-size: 0.8rem; font-weight: 600; white-space: nowrap; }
.badge.published, .badge.succeeded, .badge.pass { color: var(--good); background: var(--good-bg); }
.badge.held, .badge.queued { color: var(--warn); background: var(--warn-bg); }
.badge.rejected, .badge.failed, .badge.fail, .badge.stale { color: var(--bad); background: var(--bad-bg); }
span.stale { color: var(--bad); }
.badge.running { color: var(--info); background: var(--info-bg); }
.badge.superseded, .badge.pruned, .badge.none { color: var(--dim); background: var(--dim-bg); }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); gap: 1rem; }
figure.chart { margin: 0; }
figure.chart svg { max-width: 100%; height: auto; }
figure.chart figcaption { font-size: 0.85rem; color: var(--muted); margin-top: 0.3rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.3rem 1rem; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
form.inline { display: inline-flex; flex-wrap: wrap; gap: 0.4rem; align-items: center; margin: 0.2rem 0.4rem 0.2rem 0; }
form.inline input[type=text] { width: 10rem; }
button.action { border: 1px solid var(--accent); background: var(--accent); color: #ffffff; border-radius: 4px; padding: 0.25rem 0.7rem; cursor: pointer; font-size: 0.85rem; }
button.action.danger { border-color: var(--bad); background: var(--bad); }
input, select { font: inherit; padding: 0.25rem 0.4rem; border: 1px solid #8b949e; border-radius: 4px; }
label { font-size: 0.9rem; }
.notice { border-radius: 6px; padding: 0.6rem 0.9rem; margin: 0.8rem 0; }
.notice.ok { background: var(--good-bg); color: var(--good); }
.notice.error { background: var(--bad-bg); color: var(--bad); }
.links { font-size: 0.9rem; }
.links a { margin-right: 0.8rem; }
progress { width: 6rem; vertical-align: middle; accent-color: var(--accent); }
.muted { color: var(--muted); }
details { margin-top: 0.8rem; }
details summary { cursor: pointer; color: var(--accent); }
pre.json { background: var(--wash); padding: 0.6rem; border-radius: 6px; overflow-x: auto; font-size: 0.8rem; max-height: 24rem; }
iframe.runs { width: 100%; border: 0; display: block; }
body.frame { background: var(--paper); }
body.frame main { max-width: none; padding: 0; }
footer { max-width: 1180px; margin: 0 auto; padding: 1rem 1.2rem 2rem; font-size: 0.85rem; color: var(--muted); }
`;
