/** The one stylesheet, served at `/assets/site.css`: readable type, strong contrast, and a focus ring you can see. */
export const SITE_CSS = `
:root { color-scheme: light; --ink: #1f2328; --muted: #4b5563; --line: #d0d7de; --brand: #0b4fd6;
  --ok: #116329; --ok-bg: #e6f4ea; --bad: #a40e26; --bad-bg: #fde8ea; --warn-bg: #fff4ce; --focus: #b35900; }
* { box-sizing: border-box; }
html { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-size: 17px; line-height: 1.5; color: var(--ink); background: #fff; }
body { margin: 0; }
.wrap { max-width: 1000px; margin: 0 auto; padding: 0 20px; }
a { color: var(--brand); text-underline-offset: 2px; }
a:hover { text-decoration-thickness: 2px; }
h1 { font-size: 1.9rem; line-height: 1.2; margin: 28px 0 12px; }
h2 { font-size: 1.3rem; margin: 28px 0 10px; }
h3 { font-size: 1.05rem; margin: 18px 0 6px; }
p { margin: 0 0 12px; }
code { font-size: 0.9em; background: #f3f4f6; padding: 1px 4px; border-radius: 4px; }
.muted { color: var(--muted); }
.skip-link { position: absolute; left: 8px; top: -60px; background: #fff; padding: 8px 12px; z-index: 10; }
.skip-link:focus { top: 8px; }
.site-header { border-bottom: 1px solid var(--line); background: #f6f8fa; }
.header-row { display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; gap: 8px 24px;
  padding-top: 12px; padding-bottom: 8px; }
.brand { font-weight: 700; font-size: 1.2rem; color: var(--ink); text-decoration: none; }
nav { display: flex; flex-wrap: wrap; gap: 4px 18px; align-items: baseline; }
.who { margin: 0; }
.demo-banner { margin: 0 auto; padding-bottom: 10px; font-size: 0.85rem; color: #5c3c00; }
main { padding-bottom: 40px; }
main:focus { outline: none; }
.site-footer { border-top: 1px solid var(--line); color: var(--muted); font-size: 0.85rem; padding: 12px 0; }
.flash { border-left: 6px solid; padding: 12px 16px; margin: 20px 0; border-radius: 4px; }
.flash p { margin: 0; }
.flash-success { border-color: var(--ok); background: var(--ok-bg); }
.flash-error { border-color: var(--bad); background: var(--bad-bg); }
.panel { border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin: 16px 0; }
.panel-warn { background: var(--warn-bg); border-color: #d4a72c; }
.panel-bad { background: var(--bad-bg); border-color: var(--bad); }
.panel-ok { background: var(--ok-bg); border-color: var(--ok); }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 6px 20px; margin: 0 0 12px; }
.facts dt { font-weight: 600; }
.facts dd { margin: 0; }
.actions { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; margin: 16px 0; }
.actions form { margin: 0; }
button, .button { font: inherit; font-weight: 600; border-radius: 6px; padding: 8px 18px; cursor: pointer;
  border: 2px solid var(--brand); background: var(--brand); color: #fff; text-decoration: none; display: inline-block; }
button.secondary, .button.secondary { background: #fff; color: var(--brand); }
button.danger { background: #fff; color: var(--bad); border-color: var(--bad); }
button.small { padding: 3px 10px; font-size: 0.9rem; }
.link-button { background: none; border: none; color: var(--brand); padding: 0; font-weight: 400;
  text-decoration: underline; text-underline-offset: 2px; }
label { display: block; font-weight: 600; margin: 12px 0 4px; }
.hint { display: block; font-weight: 400; color: var(--muted); font-size: 0.9rem; }
input[type=text], input[type=email], select { font: inherit; padding: 6px 10px; border: 2px solid #6e7781;
  border-radius: 6px; width: 100%; max-width: 26rem; background: #fff; color: var(--ink); }
input[aria-invalid=true] { border-color: var(--bad); }
fieldset { border: 1px solid var(--line); border-radius: 8px; padding: 8px 20px 18px; margin: 16px 0; }
legend { font-weight: 700; padding: 0 6px; }
.columns { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 0 20px; }
.demo-note { font-size: 0.9rem; color: #5c3c00; background: var(--warn-bg); padding: 4px 10px; border-radius: 4px; display: inline-block; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; }
caption { text-align: left; font-weight: 700; font-size: 1.1rem; padding: 6px 0; }
th, td { text-align: left; vertical-align: top; padding: 8px 10px 8px 0; border-bottom: 1px solid var(--line); }
th { font-size: 0.9rem; color: var(--muted); }
td form { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin: 0 0 6px; }
td form label { display: inline; margin: 0; font-weight: 400; font-size: 0.9rem; }
.row-actions { display: flex; flex-wrap: wrap; gap: 6px 10px; align-items: center; }
td select { width: auto; padding: 2px 6px; }
.tag { display: inline-block; font-size: 0.8rem; font-weight: 700; border-radius: 10px; padding: 1px 8px; }
.tag-active { background: var(--ok-bg); color: var(--ok); }
.tag-pending { background: var(--warn-bg); color: #5c3c00; }
.visually-hidden { position: absolute !important; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
  clip-path: inset(50%); white-space: nowrap; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 3px; }
button:focus-visible, .button:focus-visible, input:focus-visible, select:focus-visible {
  outline: 3px solid var(--focus); outline-offset: 3px; box-shadow: 0 0 0 6px #ffe8c2; }
.flash:focus-visible, .flash:focus { outline: 3px solid var(--focus); outline-offset: 3px; }
`;
