// Code fields for the Part 2 editor: line numbers, $variable marks, problem underlines at
// line/column, $ completion of the variables that have a value where the caret is, and
// after `${name:` completion of the modifiers (typed placeholders, base64, join).
// Plain <textarea data-code> / <input data-suggest>; no libraries, nothing inline (CSP).
(function () {
  "use strict";

  const PLACEHOLDER = /\$\$|\$\{[A-Za-z_][A-Za-z0-9_]*(?::[a-z0-9]+(?:\([^)]*\))?)?\}|\$[A-Za-z_][A-Za-z0-9_]*/g;
  const MODIFIER_BEFORE = /(\$+)\{[A-Za-z_][A-Za-z0-9_]*:([a-z0-9]*)$/;
  const MODIFIERS = [
    { name: "string", kind: "modifier", detail: "the value as a JSON string (true → \"true\")" },
    { name: "number", kind: "modifier", detail: "the value as a JSON number" },
    { name: "boolean", kind: "modifier", detail: "true or false" },
    { name: "json", kind: "modifier", detail: "the value as JSON text (strings quoted)" },
    { name: "base64", kind: "modifier", detail: "the value's text, base64-encoded" },
    { name: "join(,)", kind: "modifier", detail: "a list's items joined by the separator" },
  ];
  const NAME_CHAR = /[A-Za-z0-9_]/;
  const MAX_ROWS = 18;
  let suggestions = {};
  const marksByField = new WeakMap();
  let popup = null;
  let completion = null; // {field, start, braced, items, active}
  let measureCanvas = null;
  let justAccepted = false;

  function escapeHtml(text) {
    return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  // ---- positions: diagnostics count code points, JavaScript strings count UTF-16 units
  function offsetOf(text, line, column) {
    let start = 0;
    for (let current = 1; current < line; current += 1) {
      const next = text.indexOf("\n", start);
      if (next === -1) return text.length;
      start = next + 1;
    }
    let end = text.indexOf("\n", start);
    if (end === -1) end = text.length;
    let offset = start;
    for (let step = 1; step < column && offset < end; step += 1) {
      const code = text.charCodeAt(offset);
      offset += code >= 0xd800 && code <= 0xdbff ? 2 : 1;
    }
    return offset;
  }

  function lineColumnOf(text, offset) {
    const before = text.slice(0, offset);
    const line = before.split("\n").length;
    const lineStart = before.lastIndexOf("\n") + 1;
    return { line: line, column: Array.from(text.slice(lineStart, offset)).length + 1 };
  }

  function markLength(text, offset) {
    if (offset >= text.length || text[offset] === "\n") return 0;
    PLACEHOLDER.lastIndex = offset;
    const match = PLACEHOLDER.exec(text);
    if (match && match.index === offset) return match[0].length;
    let end = offset;
    while (end < text.length && NAME_CHAR.test(text[end])) end += 1;
    return Math.max(1, end - offset);
  }

  // ---- rendering the overlay (marks) and the gutter (line numbers)
  function render(field) {
    const root = field.closest("[data-code]");
    if (!root) return;
    const text = field.value;
    const overlay = root.querySelector(".code-overlay");
    const gutter = root.querySelector(".code-gutter");
    const ranges = [];
    PLACEHOLDER.lastIndex = 0;
    let match;
    while ((match = PLACEHOLDER.exec(text)) !== null) {
      if (match[0] !== "$$") ranges.push({ start: match.index, end: match.index + match[0].length, cls: "mk-var" });
    }
    const badLines = new Set();
    const atEnd = [];
    (marksByField.get(field) || []).forEach(function (mark) {
      if (!mark.line) return;
      const start = offsetOf(text, mark.line, mark.column || 1);
      const length = markLength(text, start);
      const cls = mark.severity === "warning" ? "mk-warning" : "mk-error";
      badLines.add(mark.line);
      if (length === 0) atEnd.push({ offset: start, cls: cls, title: mark.message });
      else ranges.push({ start: start, end: start + length, cls: cls, title: mark.message });
    });
    const points = new Set([0, text.length]);
    ranges.forEach(function (r) { points.add(r.start); points.add(r.end); });
    atEnd.forEach(function (r) { points.add(r.offset); });
    const sorted = Array.from(points).sort(function (a, b) { return a - b; });
    let html = "";
    for (let i = 0; i < sorted.length; i += 1) {
      const at = sorted[i];
      atEnd.filter(function (r) { return r.offset === at; }).forEach(function (r) {
        html += '<span class="' + r.cls + '"> </span>';
      });
      if (i === sorted.length - 1) break;
      const next = sorted[i + 1];
      const classes = ranges.filter(function (r) { return r.start <= at && r.end >= next; }).map(function (r) { return r.cls; });
      const piece = escapeHtml(text.slice(at, next));
      html += classes.length ? '<span class="' + classes.join(" ") + '">' + piece + "</span>" : piece;
    }
    overlay.innerHTML = html + "\n ";
    const lines = text.split("\n").length;
    let numbers = "";
    for (let n = 1; n <= lines; n += 1) {
      numbers += (badLines.has(n) ? '<span class="gl-bad">' + n + "</span>" : String(n)) + "\n";
    }
    gutter.innerHTML = numbers;
    field.rows = Math.min(MAX_ROWS, Math.max(Number(field.dataset.minRows || field.rows), lines + 1));
    sync(field);
  }

  function sync(field) {
    const root = field.closest("[data-code]");
    if (!root) return;
    root.querySelector(".code-overlay").scrollTop = field.scrollTop;
    root.querySelector(".code-overlay").scrollLeft = field.scrollLeft;
    root.querySelector(".code-gutter").scrollTop = field.scrollTop;
  }

  function init(container) {
    (container || document).querySelectorAll("[data-code] textarea").forEach(function (field) {
      if (field.dataset.codeReady) return;
      field.dataset.codeReady = "1";
      field.dataset.minRows = field.rows;
      field.addEventListener("scroll", function () { sync(field); });
      render(field);
    });
  }

  function setMarks(field, marks) {
    marksByField.set(field, marks);
    render(field);
  }

  function clearMarks(container) {
    (container || document).querySelectorAll("[data-code] textarea").forEach(function (field) {
      if (marksByField.has(field)) {
        marksByField.delete(field);
        render(field);
      }
    });
  }

  function focusAt(field, line, column) {
    field.focus({ preventScroll: true });
    if (line && typeof field.setSelectionRange === "function") {
      const offset = offsetOf(field.value, Number(line), Number(column) || 1);
      field.setSelectionRange(offset, offset + Math.max(1, markLength(field.value, offset)));
      const lineHeight = parseFloat(getComputedStyle(field).lineHeight) || 20;
      field.scrollTop = Math.max(0, (Number(line) - 3) * lineHeight);
    }
  }

  // ---- inserting text so that undo (Ctrl+Z) still works
  function insertText(field, text) {
    field.focus();
    let done = false;
    // execCommand is deprecated and may throw where it is gone: then the fallback below inserts.
    try { done = document.execCommand("insertText", false, text); } catch { done = false; }
    if (!done) {
      field.setRangeText(text, field.selectionStart, field.selectionEnd, "end");
      field.dispatchEvent(new Event("input", { bubbles: true }));
    }
  }

  // ---- $ completion
  function ensurePopup() {
    if (!popup) popup = document.getElementById("var-completions");
    return popup;
  }

  function tokenBeforeCaret(field) {
    const text = field.value;
    const caret = field.selectionStart;
    if (caret !== field.selectionEnd) return null;
    let start = caret;
    while (start > 0 && NAME_CHAR.test(text[start - 1])) start -= 1;
    let braced = false;
    let dollar = start - 1;
    if (text[dollar] === "{" && text[dollar - 1] === "$") { braced = true; dollar -= 1; }
    if (text[dollar] !== "$") return null;
    let escapes = 0;
    for (let i = dollar - 1; i >= 0 && text[i] === "$"; i -= 1) escapes += 1;
    if (escapes % 2 === 1) return null; // $$ is a literal dollar sign
    const prefix = text.slice(start, caret);
    if (prefix && !/^[A-Za-z_]/.test(prefix)) return null;
    return { start: dollar, prefix: prefix, braced: braced };
  }

  function candidates(field, prefix) {
    const all = suggestions[field.dataset.suggest] || [];
    const lower = prefix.toLowerCase();
    const starts = all.filter(function (item) { return item.name.toLowerCase().startsWith(lower); });
    const contains = all.filter(function (item) {
      return !item.name.toLowerCase().startsWith(lower) && item.name.toLowerCase().includes(lower);
    });
    return starts.concat(contains);
  }

  function caretPoint(field, offset) {
    const style = getComputedStyle(field);
    if (!measureCanvas) measureCanvas = document.createElement("canvas");
    const context = measureCanvas.getContext("2d");
    context.font = style.fontSize + " " + style.fontFamily;
    const text = field.value.slice(0, offset);
    const lineStart = text.lastIndexOf("\n") + 1;
    const lineIndex = text.split("\n").length - 1;
    const width = context.measureText(text.slice(lineStart)).width;
    const lineHeight = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.4;
    const rect = field.getBoundingClientRect();
    const x = rect.left + parseFloat(style.paddingLeft) + parseFloat(style.borderLeftWidth) + width - field.scrollLeft;
    const y = field.tagName === "TEXTAREA"
      ? rect.top + parseFloat(style.paddingTop) + (lineIndex + 1) * lineHeight - field.scrollTop
      : rect.bottom;
    return { x: Math.min(x, rect.right - 20), y: y };
  }

  // `${name:` before the caret (not after an escaping `$`): the modifier being typed.
  function modifierBeforeCaret(field) {
    const caret = field.selectionStart;
    if (caret !== field.selectionEnd) return null;
    const match = MODIFIER_BEFORE.exec(field.value.slice(0, caret));
    if (!match || match[1].length % 2 === 0) return null;
    return { start: caret - match[2].length, prefix: match[2], modifier: true };
  }

  function openCompletion(field) {
    const token = modifierBeforeCaret(field) || tokenBeforeCaret(field);
    if (!token) return closeCompletion();
    const items = token.modifier
      ? MODIFIERS.filter(function (item) { return item.name.startsWith(token.prefix); })
      : candidates(field, token.prefix);
    if (!items.length) return closeCompletion();
    const list = ensurePopup();
    if (!list) return;
    const previous = completion && completion.field === field ? completion.items[completion.active] : null;
    let active = previous ? items.findIndex(function (i) { return i.name === previous.name; }) : 0;
    if (active < 0) active = 0;
    completion = { field: field, start: token.start, braced: token.braced, modifier: token.modifier, prefix: token.prefix, items: items, active: active };
    list.innerHTML = "";
    items.forEach(function (item, index) {
      const option = document.createElement("li");
      option.id = "var-completion-" + index;
      option.setAttribute("role", "option");
      option.dataset.index = String(index);
      const name = document.createElement("span");
      name.className = "cp-name";
      name.textContent = (token.modifier ? ":" : "$") + item.name;
      const kind = document.createElement("span");
      kind.className = "cp-kind";
      kind.textContent = item.kind;
      option.append(name, kind);
      if (item.detail) {
        const detail = document.createElement("span");
        detail.className = "cp-detail";
        detail.textContent = item.detail;
        option.append(detail);
      }
      list.append(option);
    });
    list.hidden = false;
    field.setAttribute("aria-controls", list.id);
    field.setAttribute("aria-expanded", "true");
    highlight();
    const point = caretPoint(field, field.selectionStart);
    const width = list.offsetWidth;
    const height = list.offsetHeight;
    let left = point.x + window.scrollX;
    let top = point.y + 4 + window.scrollY;
    if (left + width > window.scrollX + document.documentElement.clientWidth - 8) {
      left = window.scrollX + document.documentElement.clientWidth - width - 8;
    }
    if (point.y + height + 8 > window.innerHeight) top = point.y - height - 28 + window.scrollY;
    list.style.left = Math.max(8, left) + "px";
    list.style.top = Math.max(8, top) + "px";
  }

  function highlight() {
    const list = ensurePopup();
    if (!list || !completion) return;
    Array.from(list.children).forEach(function (option, index) {
      const selected = index === completion.active;
      option.setAttribute("aria-selected", selected ? "true" : "false");
      if (selected) {
        completion.field.setAttribute("aria-activedescendant", option.id);
        option.scrollIntoView({ block: "nearest" });
      }
    });
  }

  function closeCompletion() {
    const list = ensurePopup();
    if (list) { list.hidden = true; list.innerHTML = ""; }
    if (completion) {
      completion.field.setAttribute("aria-expanded", "false");
      completion.field.removeAttribute("aria-activedescendant");
    }
    completion = null;
  }

  function accept(index) {
    if (!completion) return;
    const item = completion.items[index];
    const field = completion.field;
    // Completing inside an existing name replaces the rest of it too.
    let end = field.selectionStart;
    while (end < field.value.length && NAME_CHAR.test(field.value[end])) end += 1;
    let text = "$" + item.name;
    if (completion.modifier) {
      text = item.name + "}";
      if (field.value[end] === "}") end += 1;
    } else if (completion.braced) {
      text = "${" + item.name + "}";
      if (field.value[end] === "}") end += 1;
    }
    field.setSelectionRange(completion.start, end);
    closeCompletion();
    justAccepted = true;
    insertText(field, text);
    justAccepted = false;
  }

  document.addEventListener("input", function (event) {
    const field = event.target;
    if (!(field instanceof HTMLElement)) return;
    if (field.closest("[data-code]") && field.tagName === "TEXTAREA") render(field);
    if (field.dataset.suggest !== undefined && !justAccepted) openCompletion(field);
  });

  document.addEventListener("keydown", function (event) {
    const field = event.target;
    if (!(field instanceof HTMLElement)) return;
    if (completion && completion.field === field) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        completion.active = (completion.active + step + completion.items.length) % completion.items.length;
        highlight();
        return;
      }
      if (event.key === "Enter" || event.key === "Tab") {
        event.preventDefault();
        accept(completion.active);
        return;
      }
      if (event.key === "Escape") {
        event.preventDefault();
        closeCompletion();
        return;
      }
    }
    // Enter in a code field keeps the current line's indentation.
    if (event.key === "Enter" && field.tagName === "TEXTAREA" && field.closest("[data-code]") &&
        !event.shiftKey && !event.ctrlKey && !event.metaKey && !event.altKey) {
      const text = field.value.slice(0, field.selectionStart);
      const indent = /^[ \t]*/.exec(text.slice(text.lastIndexOf("\n") + 1))[0];
      if (indent) {
        event.preventDefault();
        insertText(field, "\n" + indent);
      }
    }
  });

  document.addEventListener("mousedown", function (event) {
    const option = event.target.closest && event.target.closest("#var-completions [role=option]");
    if (option && completion) {
      event.preventDefault();
      accept(Number(option.dataset.index));
    }
  });

  document.addEventListener("focusout", function (event) {
    if (completion && event.target === completion.field) closeCompletion();
  });
  document.addEventListener("click", function (event) {
    if (completion && event.target !== completion.field) closeCompletion();
  });
  window.addEventListener("resize", closeCompletion);

  window.CodeFields = {
    init: init,
    render: render,
    setMarks: setMarks,
    clearMarks: clearMarks,
    focusAt: focusAt,
    setSuggestions: function (map) { suggestions = map || {}; },
    isCompleting: function () { return completion !== null; },
    positionOf: lineColumnOf,
  };
})();
