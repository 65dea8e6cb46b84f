() => {
  const problems = [];
  const shown = (el) => {
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    return style.visibility !== "hidden" && style.display !== "none" && box.width > 0 && box.height > 0;
  };
  const describe = (el) => `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${el.name ? "[" + el.name + "]" : ""}`;

  if (!document.documentElement.lang) problems.push("the page has no language");
  if (!document.title.trim()) problems.push("the page has no title");

  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea, progress")) {
    const named = (el.labels && el.labels.length) || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
    if (!named) problems.push(`no label for ${describe(el)}`);
  }
  for (const el of document.querySelectorAll("button, a")) {
    if (el.tagName === "A" && !el.hasAttribute("href")) problems.push(`a link that goes nowhere: ${describe(el)}`);
    if (!(el.textContent.trim() || el.getAttribute("aria-label"))) problems.push(`no name for ${describe(el)}`);
  }
  for (const el of document.querySelectorAll("[onclick], div[tabindex]:not([role]), span[tabindex], [role=button]:not(button)")) {
    problems.push(`something clickable that is not a button or link: ${describe(el)}`);
  }

  const levels = [...document.querySelectorAll("h1, h2, h3, h4, h5, h6")].map((h) => Number(h.tagName[1]));
  const ones = levels.filter((level) => level === 1).length;
  if (ones !== 1) problems.push(`${ones} h1 headings (one wanted)`);
  levels.reduce((previous, level) => {
    if (level > previous + 1) problems.push(`a heading jumps from h${previous} to h${level}`);
    return level;
  }, 0);

  const ids = [...document.querySelectorAll("[id]")].map((el) => el.id);
  const twice = ids.filter((id, index) => ids.indexOf(id) !== index);
  if (twice.length) problems.push(`ids used twice: ${[...new Set(twice)].join(", ")}`);

  const skip = document.querySelector("a.skip-link");
  const main = document.querySelector("main");
  if (!skip || !main || skip.getAttribute("href") !== "#" + main.id) problems.push("no skip link to the main content");
  const focusable = document.querySelector("a[href], button, input:not([type=hidden]), select, textarea");
  if (focusable !== skip) problems.push("the skip link is not the first thing to tab to");

  for (const id of ["mode", "handler-status", "handler-call", "summary", "handlers-summary", "progress"]) {
    const el = document.getElementById(id);
    if (el && !el.getAttribute("aria-live")) problems.push(`a live region that is not aria-live: #${id}`);
  }

  const parse = (colour) => {
    const found = colour.match(/rgba?\(([^)]+)\)/);
    if (!found) return null;
    const parts = found[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return { r: parts[0], g: parts[1], b: parts[2], a: parts.length > 3 ? parts[3] : 1 };
  };
  const luminance = ({ r, g, b }) => {
    const channel = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  const backdrop = (el) => {
    for (let at = el; at; at = at.parentElement) {
      const colour = parse(getComputedStyle(at).backgroundColor);
      if (colour && colour.a > 0) return colour;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  const over = (fg, bg) => ({
    r: fg.r * fg.a + bg.r * (1 - fg.a), g: fg.g * fg.a + bg.g * (1 - fg.a), b: fg.b * fg.a + bg.b * (1 - fg.a), a: 1,
  });
  for (const el of document.body.querySelectorAll("*")) {
    if (el.closest("svg, script, style, option, head")) continue;
    const text = [...el.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent).join("").trim();
    if (!text || !shown(el)) continue;
    const style = getComputedStyle(el);
    const bg = backdrop(el);
    const fg = over(parse(style.color), bg);
    const lighter = Math.max(luminance(fg), luminance(bg));
    const darker = Math.min(luminance(fg), luminance(bg));
    const ratio = (lighter + 0.05) / (darker + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      problems.push(`contrast ${ratio.toFixed(2)}:1 for "${text.slice(0, 40)}" (${style.color} on rgb(${bg.r}, ${bg.g}, ${bg.b}))`);
    }
  }
  return problems;
}
