// The page's one stylesheet, inlined (no second request). Light and dark follow the reader's
// system; colours meet WCAG AA contrast on their background; nothing needs JavaScript: a day's
// details show on hover, on keyboard focus and on tap (focus), from the markup itself.
export const CSS = `
:root{color-scheme:light dark;--bg:#fff;--fg:#1f2328;--mut:#59636e;--line:#d1d9e0;--card:#f6f8fa;--ok:#1a7f37;--deg:#9a6700;--par:#bc4c00;--maj:#cf222e;--mnt:#0969da;--nd:#d1d9e0;--tip:#1f2328;--tipfg:#fff}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--mut:#9198a1;--line:#3d444d;--card:#151b23;--ok:#3fb950;--deg:#d29922;--par:#f0883e;--maj:#ff7b72;--mnt:#58a6ff;--nd:#3d444d;--tip:#e6edf3;--tipfg:#0d1117}}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif}
a{color:var(--mnt)}a:focus-visible,[tabindex]:focus-visible,summary:focus-visible{outline:3px solid var(--mnt);outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:var(--bg);padding:4px 8px;z-index:9}
.wrap{max-width:880px;margin:0 auto;padding:16px}
header{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;gap:8px}header h1{font-size:1.5rem;margin:8px 0}
nav ul{list-style:none;display:flex;gap:12px;margin:0;padding:0}
.banner{border-radius:8px;padding:12px 16px;margin:16px 0;color:#fff}.banner h2{margin:0;font-size:1.25rem}.banner p{margin:4px 0 0}
.i-none{background:#1a7f37}.i-minor{background:#9a6700}.i-major{background:#bc4c00}.i-critical{background:#cf222e}.i-maintenance{background:#0969da}
section{margin:24px 0}h2{font-size:1.2rem}h3{font-size:1.05rem;margin:16px 0 8px}
.card{border:1px solid var(--line);border-radius:8px;padding:12px 16px;margin:8px 0;background:var(--card)}
.comps{list-style:none;margin:0;padding:0}.comp{border-top:1px solid var(--line);padding:12px 0}
.row{display:flex;justify-content:space-between;gap:8px;flex-wrap:wrap}.name{font-weight:600}
.s-operational{color:var(--ok)}.s-degraded_performance{color:var(--deg)}.s-partial_outage{color:var(--par)}.s-major_outage{color:var(--maj)}.s-under_maintenance{color:var(--mnt)}
.bars{display:flex;gap:2px;list-style:none;margin:8px 0 4px;padding:0;height:34px}
.bars li{flex:1;min-width:2px;border-radius:2px;background:var(--ok);position:relative}
.bars .d2{background:var(--deg)}.bars .d3{background:var(--par)}.bars .d4{background:var(--maj)}.bars .d1{background:var(--mnt)}.bars .dn{background:var(--nd)}.bars .dp{background:linear-gradient(var(--ok),var(--deg))}
.bars li span{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.bars li:hover span,.bars li:focus span{clip:auto;width:auto;height:auto;overflow:visible;white-space:pre-line;bottom:40px;left:50%;transform:translateX(-50%);background:var(--tip);color:var(--tipfg);padding:6px 8px;border-radius:6px;font-size:.85rem;z-index:5;min-width:10em;max-width:18em}
.bars li:nth-child(-n+12) span{left:0;transform:none}.bars li:nth-last-child(-n+12) span{left:auto;right:0;transform:none}
.axis{display:flex;justify-content:space-between;color:var(--mut);font-size:.85rem}
.chart{margin:8px 0 0}.chart figcaption{font-size:.85rem}.chart svg{width:100%;height:48px;display:block}.chart rect{fill:var(--mnt)}.chart .base{stroke:var(--line)}
.mut{color:var(--mut)}.timeline{list-style:none;padding:0;margin:0}.timeline li{border-left:3px solid var(--line);padding:4px 0 8px 12px}
footer{border-top:1px solid var(--line);margin-top:32px;padding-top:12px;color:var(--mut);font-size:.9rem}footer ul{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:16px}
.axis .near{display:none}
.sub{display:flex;flex-wrap:wrap;gap:8px;align-items:center}.sub input[type=email]{flex:1;min-width:14em;font:inherit;padding:6px 8px;border:1px solid var(--line);border-radius:6px;background:var(--bg);color:var(--fg)}.sub button,.act button{font:inherit;padding:6px 14px;border:0;border-radius:6px;background:var(--fg);color:var(--bg);cursor:pointer}.sub details{flex-basis:100%}.sub fieldset{border:1px solid var(--line);border-radius:6px;display:flex;flex-wrap:wrap;gap:4px 16px}
@media (max-width:600px){.wrap{padding:12px}.bars{gap:1px;height:28px}.bars li:nth-child(-n+60){display:none}.axis .far{display:none}.axis .near{display:inline}}
`.replace(/\n/g, '');
