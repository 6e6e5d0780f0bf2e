// The Part 2 editor: live preview, autosave, rows, and problems shown on the fields.
//
// The form is never re-rendered while the partner types: only the Testing Integration
// panel and the problem summary are replaced, so focus and caret stay where they are.
// Every rule lives on the server; this script sends the form state and shows the answers.
(function () {
  "use strict";

  const form = document.getElementById("editor-form");
  if (!form) return;
  const csrf = document.body.dataset.csrf;
  const panel = document.getElementById("testing-body");
  const summaryHost = document.getElementById("problem-summary");
  const saveState = document.getElementById("save-state");
  const liveBadge = document.querySelector("[data-live-state]");
  const conflictBox = document.getElementById("save-conflict");
  const PREVIEW_DELAY = 250;
  const SAVE_DELAY = 1200;
  const RETRY_DELAY = 5000;
  const PATH_ATTRIBUTES = ["name", "id", "for", "aria-describedby", "aria-labelledby", "aria-controls", "data-list", "data-mirror", "data-when"];

  let data = JSON.parse(document.getElementById("editor-data").textContent);
  let revision = Number(form.querySelector("[data-base-revision]").value);
  let lastSaved = serializeState();
  let previewTimer = null;
  let previewController = null;
  let saveTimer = null;
  let saving = null;
  let saveAgain = false;
  let conflict = false;
  let summaryCollapsed = false;
  const openDetails = new Set();

  // ---------------------------------------------------------------- form state
  function serializeState() {
    const state = {};
    new FormData(form).forEach(function (value, key) {
      if (key !== "csrfmiddlewaretoken" && key !== "base_revision") state[key] = String(value);
    });
    return JSON.stringify(state);
  }

  function post(url, fields, accept, signal) {
    const body = new URLSearchParams();
    body.set("state", serializeState());
    Object.keys(fields || {}).forEach(function (key) { body.set(key, fields[key]); });
    return fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      signal: signal,
      headers: { "X-CSRFToken": csrf, "Accept": accept || "application/json" },
    });
  }

  function isDirty() { return serializeState() !== lastSaved; }

  // ---------------------------------------------------------------- live preview
  function schedulePreview(delay) {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(runPreview, delay === undefined ? PREVIEW_DELAY : delay);
  }

  function runPreview() {
    if (previewController) previewController.abort();
    const controller = new AbortController();
    previewController = controller;
    if (liveBadge) liveBadge.classList.add("is-busy");
    post(form.dataset.previewUrl, { shown: JSON.stringify(shownKeys()) }, "application/json", controller.signal)
      .then(function (response) { return response.json().then(function (body) { return { ok: response.ok, body: body }; }); })
      .then(function (result) {
        if (controller !== previewController) return;
        if (!result.ok) { showNotice(result.body.error ? result.body.error.message : "The preview failed."); return; }
        clearNotice();
        if (typeof result.body.panel === "string") swapPanel(result.body.panel);
        else swapSections(result.body.sections || "");
        swapSummary(result.body.summary);
        const before = data;
        data = result.body.data;
        // Completions come only when they changed.
        if (!("suggestions" in data)) data.suggestions = before.suggestions;
        applyProblems();
        if (before.error_count !== data.error_count || before.warning_count !== data.warning_count) {
          announce(data.error_count || data.warning_count
            ? data.error_count + " errors, " + data.warning_count + " warnings."
            : "No problems found.");
        }
      })
      .catch(function (error) { if (error.name !== "AbortError") showNotice("The preview could not be updated; retrying when you type again."); })
      .finally(function () {
        if (controller === previewController) {
          previewController = null;
          if (liveBadge) liveBadge.classList.remove("is-busy");
        }
      });
  }

  // What the panel shows, by section id, and the completions the script has: the server
  // answers with only the sections (and completions) whose key differs.
  function shownKeys() {
    const keys = {};
    panel.querySelectorAll("section[id][data-key]").forEach(function (section) {
      keys[section.id] = section.dataset.key;
    });
    if (data.suggestions_key) keys.suggestions = data.suggestions_key;
    return keys;
  }

  function swapPanel(html) {
    keepingPlace(function () { panel.innerHTML = html; return [panel]; });
  }

  function swapSections(html) {
    if (!html) return;
    keepingPlace(function () {
      const holder = document.createElement("template");
      holder.innerHTML = html;
      return Array.from(holder.content.querySelectorAll("section[id]")).map(function (section) {
        const shown = document.getElementById(section.id);
        if (shown && panel.contains(shown)) shown.replaceWith(section);
        else panel.append(section);
        return section;
      });
    });
  }

  // Replace part of the panel keeping its scroll position, the focused element and the
  // details the partner opened.
  function keepingPlace(replace) {
    const scroll = panel.scrollTop;
    const focusedId = panel.contains(document.activeElement) ? document.activeElement.id : null;
    replace().forEach(function (root) {
      root.querySelectorAll("details[class]").forEach(function (details) {
        details.open = openDetails.has(details.className);
      });
    });
    panel.scrollTop = scroll;
    if (focusedId) {
      const again = document.getElementById(focusedId);
      if (again) again.focus({ preventScroll: true });
    }
  }

  function swapSummary(html) {
    summaryHost.innerHTML = html;
    applySummaryState();
  }

  function applySummaryState() {
    const summary = summaryHost.querySelector(".summary");
    const toggle = summaryHost.querySelector("[data-summary-toggle]");
    if (!summary || !toggle) return;
    summary.classList.toggle("is-collapsed", summaryCollapsed);
    toggle.setAttribute("aria-expanded", summaryCollapsed ? "false" : "true");
    toggle.textContent = summaryCollapsed ? "Show details" : "Hide details";
  }

  panel.addEventListener("toggle", function (event) {
    const details = event.target;
    if (!(details instanceof HTMLDetailsElement) || !details.className) return;
    if (details.open) openDetails.add(details.className);
    else openDetails.delete(details.className);
  }, true);

  // ---------------------------------------------------------------- problems on fields
  function resolve(path) {
    let candidate = path || "";
    while (candidate) {
      const element = document.getElementById("f-" + candidate);
      if (element && element.getClientRects().length) return element;
      const cut = candidate.lastIndexOf(".");
      if (cut < 0) break;
      candidate = candidate.slice(0, cut);
    }
    return document.getElementById("f-" + (path || "").split(".")[0]);
  }

  function isControl(element) {
    return element && ["INPUT", "SELECT", "TEXTAREA"].includes(element.tagName);
  }

  function clearProblems() {
    form.querySelectorAll(".fld-msgs[data-generated]").forEach(function (node) { node.remove(); });
    form.querySelectorAll("[aria-invalid]").forEach(function (node) { node.removeAttribute("aria-invalid"); });
    form.querySelectorAll("[data-described-by]").forEach(function (node) {
      if (node.dataset.describedBy) node.setAttribute("aria-describedby", node.dataset.describedBy);
      else node.removeAttribute("aria-describedby");
      delete node.dataset.describedBy;
    });
    if (window.CodeFields) window.CodeFields.clearMarks(form);
  }

  function problemBox(element, target, problems) {
    const box = document.createElement("div");
    box.className = "fld-msgs";
    box.dataset.generated = "1";
    box.id = (element.id || "f-" + target) + "-problems";
    problems.slice(0, 4).forEach(function (problem) {
      const line = document.createElement("p");
      line.className = "fld-msg sev-" + problem.severity;
      const where = problem.line ? "Line " + problem.line + ", column " + (problem.column || 1) + ": " : "";
      line.textContent = where + problem.message;
      box.append(line);
    });
    return box;
  }

  function applyProblems() {
    clearProblems();
    if (window.CodeFields) window.CodeFields.setSuggestions(data.suggestions);
    const byTarget = new Map();
    data.problems.forEach(function (problem) {
      if (!byTarget.has(problem.target)) byTarget.set(problem.target, []);
      byTarget.get(problem.target).push(problem);
    });
    byTarget.forEach(function (problems, target) {
      const element = resolve(target);
      if (!element || !form.contains(element)) return;
      const box = problemBox(element, target, problems);
      if (isControl(element)) {
        (element.closest(".fld") || element.parentElement).append(box);
        if (problems.some(function (p) { return p.severity === "error"; })) element.setAttribute("aria-invalid", "true");
        element.dataset.describedBy = element.getAttribute("aria-describedby") || "";
        element.setAttribute("aria-describedby", (element.dataset.describedBy + " " + box.id).trim());
        if (element.tagName === "TEXTAREA" && window.CodeFields) {
          window.CodeFields.setMarks(element, problems.filter(function (p) { return p.line; }));
        }
      } else {
        box.classList.add("fld-msgs-block");
        const anchor = element.querySelector(":scope > .section-head, :scope > fieldset > legend, :scope > .options-head");
        if (anchor) anchor.after(box);
        else element.prepend(box);
      }
    });
  }

  // ---------------------------------------------------------------- focusing a field
  function focusTarget(target, line, column) {
    const element = resolve(target);
    if (!element) return;
    const control = isControl(element) ? element : element.querySelector("input:not([type=hidden]), select, textarea, button");
    element.scrollIntoView({ block: "center", behavior: "smooth" });
    const flashing = isControl(element) ? (element.closest(".code") || element) : element;
    flashing.classList.remove("flash");
    void flashing.offsetWidth;
    flashing.classList.add("flash");
    if (!control) return;
    if (control.tagName === "TEXTAREA" && line && window.CodeFields) window.CodeFields.focusAt(control, line, column);
    else control.focus({ preventScroll: true });
  }

  document.addEventListener("click", function (event) {
    const link = event.target.closest && event.target.closest("[data-focus]");
    if (!link) return;
    event.preventDefault();
    focusTarget(link.dataset.focus, link.dataset.line, link.dataset.column);
  });

  summaryHost.addEventListener("click", function (event) {
    const toggle = event.target.closest("[data-summary-toggle]");
    if (!toggle) return;
    summaryCollapsed = !summaryCollapsed;
    applySummaryState();
  });

  // ---------------------------------------------------------------- autosave
  function setSaveState(state, text) {
    if (!saveState) return;
    saveState.dataset.state = state;
    const label = saveState.querySelector("[data-save-text]");
    const texts = {
      saved: "All changes saved",
      dirty: "Unsaved changes",
      saving: "Saving…",
      error: "Not saved",
      conflict: "Not saved: changed elsewhere",
    };
    label.textContent = text || texts[state];
  }

  function scheduleSave(delay) {
    if (conflict) return;
    clearTimeout(saveTimer);
    if (!saving) setSaveState(isDirty() ? "dirty" : "saved");
    saveTimer = setTimeout(function () { save(false); }, delay === undefined ? SAVE_DELAY : delay);
  }

  // `explicit`: Save a revision, named `name`; otherwise an autosave.
  function save(explicit, name) {
    clearTimeout(saveTimer);
    if (conflict) return Promise.resolve(false);
    if (saving) { saveAgain = true; return saving; }
    const state = serializeState();
    if (!explicit && state === lastSaved) { setSaveState("saved"); return Promise.resolve(true); }
    setSaveState("saving");
    saving = post(form.dataset.saveUrl, { base_revision: String(revision), autosave: explicit ? "0" : "1", note: name || "" })
      .then(function (response) {
        return response.json().then(function (body) { return { status: response.status, ok: response.ok, body: body }; });
      })
      .then(function (result) {
        if (result.status === 409) {
          conflict = true;
          setSaveState("conflict");
          conflictBox.hidden = false;
          conflictBox.querySelector("[data-conflict-text]").textContent = result.body.error.message + " Your unsaved edits are still on this page; copy what you need before reloading.";
          if (explicit) showToast("Not saved: this draft was changed somewhere else.", true);
          return false;
        }
        if (!result.ok) {
          const why = "Not saved: " + (result.body.error ? result.body.error.message : "the server refused the change");
          setSaveState("error", why);
          if (explicit) showToast(why, true);
          return false;
        }
        autosaved = result.body.autosaved;
        if (explicit) showToast(result.body.message, false);
        revision = result.body.revision;
        document.querySelectorAll("[data-base-revision]").forEach(function (input) { input.value = String(revision); });
        document.querySelectorAll("[data-revision-label]").forEach(function (label) { label.textContent = String(revision); });
        lastSaved = state;
        if (isDirty()) setSaveState("dirty");
        else if (explicit && !result.body.saved) setSaveState("saved");
        else setSaveState("saved", (explicit ? "Saved revision " : "Saved · revision ") + revision + " at " + result.body.saved_at.slice(11));
        return true;
      })
      .catch(function () {
        setSaveState("error", "Not saved: the server could not be reached. Retrying…");
        if (explicit) showToast("Not saved: the server could not be reached. Retrying…", true);
        saveTimer = setTimeout(function () { save(false); }, RETRY_DELAY);
        return false;
      })
      .finally(function () {
        saving = null;
        if (saveAgain) { saveAgain = false; scheduleSave(200); }
      });
    return saving;
  }

  window.addEventListener("beforeunload", function (event) {
    if (!conflict && (isDirty() || saving)) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  // Leaving through a link of the page first saves what is unsaved.
  document.addEventListener("click", function (event) {
    const link = event.target.closest && event.target.closest("a[href]");
    if (!link || link.dataset.focus !== undefined || link.getAttribute("href").startsWith("#")) return;
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.shiftKey || conflict || !isDirty()) return;
    event.preventDefault();
    save(false).then(function (ok) {
      if (ok) window.location.href = link.href;
    });
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    askRevisionName();
  });

  // The page's other forms (duplicate, import, delete) first save what is unsaved, so a
  // duplicate copies what the partner sees and an import keeps it in the history. On
  // `window`, this runs after app.js has asked for any confirmation.
  window.addEventListener("submit", function (event) {
    const other = event.target;
    if (other === form || event.defaultPrevented || conflict || !isDirty()) return;
    event.preventDefault();
    save(false).then(function (ok) {
      if (ok) other.submit();
    });
  });

  document.addEventListener("keydown", function (event) {
    if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "s") {
      event.preventDefault();
      if (revisionDialog.open) revisionForm.requestSubmit();
      else askRevisionName();
    }
  });

  // ---------------------------------------------------------------- named revisions
  // Save a revision (the button, Ctrl+S or Cmd+S) asks for a name, then says what it did
  // in a toast that stays in the window. Nothing changed since the last named revision:
  // it says so and asks nothing. An autosave since then can still be named.
  const revisionDialog = document.getElementById("revision-dialog");
  const revisionForm = document.getElementById("revision-form");
  const revisionName = document.getElementById("revision-name");
  const toast = document.getElementById("save-toast");
  let autosaved = form.dataset.autosaved === "true";
  let returnFocus = null;
  let toastTimer = null;

  // Shown first and filled a moment later: a live region is announced when its text
  // changes while it is displayed, not when it appears with its text.
  function showToast(text, isError) {
    toast.classList.toggle("is-error", Boolean(isError));
    toast.textContent = "";
    toast.hidden = false;
    clearTimeout(toastTimer);
    setTimeout(function () { toast.textContent = text; }, 30);
    toastTimer = setTimeout(function () { toast.hidden = true; }, 6000);
  }

  function askRevisionName() {
    if (conflict) { showToast("Not saved: this draft was changed somewhere else. Reload the latest version.", true); return; }
    if (!isDirty() && !saving && !autosaved) {
      showToast("No changes to save: revision " + revision + " is up to date.", false);
      return;
    }
    if (revisionDialog.open) return;
    returnFocus = document.activeElement;
    toast.hidden = true;
    revisionName.value = "";
    revisionDialog.showModal();
    revisionName.focus();
  }

  revisionForm.addEventListener("submit", function (event) {
    // Handled here, so the page's other-forms handler (below, on window) leaves it alone.
    event.preventDefault();
    const name = revisionName.value.trim();
    revisionDialog.close();
    clearTimeout(saveTimer);
    const named = function () { return save(true, name); };
    if (saving) saving.then(named);
    else named();
  });

  revisionForm.querySelector("[data-revision-cancel]").addEventListener("click", function () {
    revisionDialog.close();
  });

  // Closed either way (Escape included): the cursor goes back where it was.
  revisionDialog.addEventListener("close", function () {
    if (returnFocus && returnFocus.isConnected) returnFocus.focus({ preventScroll: true });
    returnFocus = null;
  });

  // ---------------------------------------------------------------- changes
  function changed(delay) {
    schedulePreview(delay);
    scheduleSave();
  }

  function mirror(input) {
    document.querySelectorAll('[data-mirror="' + CSS.escape(input.name) + '"]').forEach(function (chip) {
      chip.textContent = input.value.trim() ? "$" + input.value.trim() : chip.dataset.placeholder;
    });
  }

  form.addEventListener("input", function (event) {
    if (event.target.matches("[data-copy-source]")) return;
    if (event.target.name && event.target.name.endsWith(".variable")) mirror(event.target);
    changed();
  });

  form.addEventListener("change", function (event) {
    const target = event.target;
    if (target.matches("[data-copy-source]")) return;
    if (target.matches("[data-auth-radio]")) { switchAuth(target); return; }
    if (target.matches("[data-type-select]")) showForType(target, true);
    if (target.matches("[data-when-source]")) applyWhen(form);
    if (target.dataset.partTrigger) triggerPart(target);
    changed();
  });

  // An element with data-when="<input name>=<values>" shows only while that input holds
  // one of the space-separated values (a field's default, a lookup's create request, the
  // settings of one auth method). The server renders the same state, so nothing jumps.
  function applyWhen(root) {
    root.querySelectorAll("[data-when]").forEach(function (element) {
      const rule = element.dataset.when;
      const cut = rule.indexOf("=");
      const control = form.elements.namedItem(rule.slice(0, cut));
      if (!control) return;
      element.hidden = !rule.slice(cut + 1).split(" ").includes(control.value);
    });
  }

  function showForType(select, addOption) {
    const row = select.closest("[data-row]");
    row.querySelectorAll("[data-show-types]").forEach(function (element) {
      if (element.closest("[data-row]") !== row) return;
      const show = element.dataset.showTypes.split(" ").includes(select.value);
      element.classList.toggle("is-hidden", !show);
    });
    const options = row.querySelector(":scope [data-show-types] > [data-list]");
    if (addOption && options && !options.closest(".is-hidden") && !options.children.length) {
      addRow(options.closest("[data-list-host]"), "option", "", false);
    }
  }

  // ---------------------------------------------------------------- rows
  function escapeRegExp(text) { return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }

  function renumber(list) {
    const prefix = list.dataset.list;
    const pattern = new RegExp("(^|[^A-Za-z0-9_.])(" + escapeRegExp(prefix) + "\\.)(\\d+)(?=[.\\-\\s\"]|$)", "g");
    const checked = Array.from(list.querySelectorAll("input[type=radio]:checked"));
    Array.from(list.children).filter(function (row) { return row.matches("[data-row]"); }).forEach(function (row, index) {
      const rewrite = function (text) { return text.replace(pattern, function (all, before, head) { return before + head + index; }); };
      [row].concat(Array.from(row.querySelectorAll("*"))).forEach(function (element) {
        PATH_ATTRIBUTES.forEach(function (attribute) {
          const value = element.getAttribute(attribute);
          if (value !== null) element.setAttribute(attribute, rewrite(value));
        });
        if (element.dataset.pathValue !== undefined) element.value = rewrite(element.value);
        if (element.dataset.describedBy) element.dataset.describedBy = rewrite(element.dataset.describedBy);
        if (element.tagName === "TEMPLATE") element.innerHTML = rewrite(element.innerHTML);
      });
    });
    checked.forEach(function (radio) { radio.checked = true; });
  }

  function updateCounts() {
    document.querySelectorAll("[data-count]").forEach(function (pill) {
      const list = form.querySelector('[data-list="' + pill.dataset.count + '"]');
      if (list) pill.textContent = String(list.children.length);
    });
  }

  // A list's row template: its own, or one the page shares between every request's
  // header (or error) list, named after the list's prefix.
  function rowTemplate(host, kind) {
    const own = host.querySelector(':scope > template[data-template="' + kind + '"]');
    if (own) return { html: own.innerHTML, placeholder: own.dataset.placeholder };
    const shared = host.dataset.rowTemplate ? document.getElementById(host.dataset.rowTemplate) : null;
    if (!shared) return null;
    return { html: shared.innerHTML.split("__P__").join(host.dataset.prefix), placeholder: shared.dataset.placeholder };
  }

  function addRow(host, kind, value, focus) {
    const template = rowTemplate(host, kind);
    const list = host.querySelector(":scope > [data-list]");
    if (!template || !list) return null;
    const index = list.children.length;
    const holder = document.createElement("template");
    holder.innerHTML = template.html.split(template.placeholder).join(String(index));
    const row = holder.content.firstElementChild;
    list.append(holder.content);
    if (window.CodeFields) window.CodeFields.init(row);
    const first = row.querySelector("input:not([type=hidden]):not([type=radio]), select, textarea");
    if (first && value) first.value = value;
    if (first && focus) first.focus();
    return row;
  }

  form.addEventListener("click", function (event) {
    const button = event.target.closest("button");
    if (!button || button.type === "submit") return;
    if (button.dataset.add !== undefined) {
      const host = button.closest("[data-list-host]");
      const row = addRow(host, button.dataset.add, button.dataset.value || "", !button.dataset.value);
      if (!row) return;
      const typeSelect = row.querySelector("[data-type-select]");
      if (typeSelect) showForType(typeSelect, false);
      updateCounts();
      changed(0);
    } else if (button.dataset.remove !== undefined) {
      const row = button.closest("[data-row]");
      const list = row.parentElement;
      const next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      renumber(list);
      updateCounts();
      const focusable = next ? next.querySelector("[data-remove]") : list.closest("[data-list-host]").querySelector(":scope [data-add]");
      if (focusable) focusable.focus();
      announce("Removed.");
      changed(0);
    } else if (button.dataset.move !== undefined) {
      const row = button.closest("[data-row]");
      const list = row.parentElement;
      const other = button.dataset.move === "up" ? row.previousElementSibling : row.nextElementSibling;
      if (!other) return;
      if (button.dataset.move === "up") list.insertBefore(row, other);
      else list.insertBefore(other, row);
      renumber(list);
      button.focus();
      announce(button.dataset.move === "up" ? "Moved up." : "Moved down.");
      changed(0);
    } else if (button.dataset.removeSection !== undefined) {
      const section = button.closest("section");
      const link = form.querySelector('.section-nav a[href="#' + section.id + '"]');
      if (link) link.remove();
      section.remove();
      changed(0);
    } else if (button.dataset.copyErrors !== undefined) {
      copyErrors(button);
    } else if (button.dataset.addPart !== undefined) {
      addPart(button.closest("[data-slot]"), true);
    } else if (button.dataset.removePart !== undefined) {
      removePart(button.closest("[data-part]"));
    }
  });

  // ---------------------------------------------------------------- optional parts
  // A lookup, a create or find request, a request's own credentials: shown once added,
  // their inputs fetched from the server started from the form as it is.
  const addingParts = new Set();

  function addPart(slot, focus) {
    const path = slot.dataset.slot;
    if (addingParts.has(path) || slot.querySelector(":scope > [data-part]")) return Promise.resolve(null);
    addingParts.add(path);
    const button = slot.querySelector(":scope > [data-add-part]");
    return post(form.dataset.partUrl, { path: path }, "text/html")
      .then(function (response) {
        if (!response.ok) return response.json().then(function (body) { throw new Error(body.error.message); });
        return response.text();
      })
      .then(function (html) {
        const holder = document.createElement("template");
        holder.innerHTML = html.trim();
        const part = holder.content.firstElementChild;
        slot.insertBefore(part, button);
        button.hidden = true;
        if (window.CodeFields) window.CodeFields.init(part);
        applyWhen(part);
        if (focus) {
          const first = part.querySelector("select, input:not([type=hidden]), textarea");
          if (first) first.focus();
        }
        announce(button.dataset.noun.charAt(0).toUpperCase() + button.dataset.noun.slice(1) + " added.");
        changed(0);
        return part;
      })
      .catch(function (error) { showNotice(error.message || "The part could not be added. Try again."); return null; })
      .finally(function () { addingParts.delete(path); });
  }

  function removePart(part) {
    const slot = part.closest("[data-slot]");
    const button = slot.querySelector(":scope > [data-add-part]");
    part.remove();
    button.hidden = false;
    button.focus();
    announce(button.dataset.noun.charAt(0).toUpperCase() + button.dataset.noun.slice(1) + " removed.");
    changed(0);
  }

  // Choosing "create them" for the users a lookup does not find brings the create
  // request's inputs, once.
  function triggerPart(select) {
    const rule = select.dataset.partTrigger;
    const cut = rule.lastIndexOf("=");
    if (select.value !== rule.slice(cut + 1)) return;
    const slot = form.querySelector('[data-slot="' + CSS.escape(rule.slice(0, cut)) + '"]');
    if (slot) addPart(slot, false);
  }

  // ---------------------------------------------------------------- server-rendered parts
  function replaceHtml(element, html) {
    const holder = document.createElement("template");
    holder.innerHTML = html.trim();
    const fresh = holder.content.firstElementChild;
    element.replaceWith(fresh);
    if (window.CodeFields) window.CodeFields.init(fresh);
    return fresh;
  }

  // The settings and fields of each auth method the partner has left, by method: coming
  // back to a method (arrow keys walk through all four) restores them as they were.
  const leftAuth = {};

  function switchAuth(radio) {
    const fieldset = radio.closest("[data-auth-method]");
    const previous = fieldset.dataset.authMethod;
    const method = radio.value;
    const fields = { previous_method: previous };
    if (leftAuth[method]) fields.remembered = leftAuth[method];
    post(form.dataset.authUrl, fields, "text/html")
      .then(function (response) {
        if (!response.ok) throw new Error("refused");
        return response.text();
      })
      .then(function (html) {
        const fresh = replaceHtml(document.getElementById("auth-and-fields"), html);
        const left = fresh.querySelector("[data-auth-left]");
        if (left) leftAuth[previous] = left.dataset.authLeft;
        const chosen = document.getElementById("auth-method-" + method);
        if (chosen) chosen.focus();
        updateCounts();
        announce("Authentication set; its fields are in the custom fields.");
        changed(0);
      })
      .catch(function () {
        const back = fieldset.querySelector('input[value="' + previous + '"]');
        if (back) back.checked = true;
        showNotice("The auth method could not be changed. Try again.");
      });
  }

  function copyErrors(button) {
    const target = button.dataset.copyErrors;
    const source = button.closest(".copy-from").querySelector("[data-copy-source]").value;
    post(form.dataset.copyUrl, { source: source, target: target }, "text/html")
      .then(function (response) {
        if (!response.ok) return response.json().then(function (body) { throw new Error(body.error.message); });
        return response.text();
      })
      .then(function (html) {
        const block = replaceHtml(document.getElementById("errors-" + target), html);
        const again = block.querySelector("[data-copy-errors]");
        if (again) again.focus();
        announce("Error classifications copied.");
        changed(0);
      })
      .catch(function (error) { showNotice(error.message || "Copying failed."); });
  }

  // ---------------------------------------------------------------- messages
  let announcer = null;
  function announce(text) {
    if (!announcer) {
      announcer = document.createElement("div");
      announcer.className = "sr-only";
      announcer.setAttribute("role", "status");
      document.body.append(announcer);
    }
    announcer.textContent = "";
    setTimeout(function () { announcer.textContent = text; }, 30);
  }

  const noticeBox = document.getElementById("editor-notice");
  let noticeTimer = null;
  function showNotice(text) {
    noticeBox.textContent = text;
    noticeBox.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(clearNotice, 8000);
  }

  function clearNotice() {
    noticeBox.hidden = true;
    noticeBox.textContent = "";
  }

  // ---------------------------------------------------------------- the panel follows
  // Working on an endpoint brings its rendered request into view; working on fields
  // brings the Connect modal. Only when moving to another section, never while typing.
  let followed = null;
  form.addEventListener("focusin", function (event) {
    const section = event.target.closest("[data-part]:not(.part-auth), [data-endpoint], #f-custom_fields, #f-mapping_fields, #f-auth");
    if (!section || section === followed || window.matchMedia("(max-width: 1180px)").matches) return;
    followed = section;
    // The page opening with the cursor in a field that has a problem (app.js) is not the
    // partner moving there: the panel opens at its top.
    if (document.readyState !== "complete") return;
    const request = section.dataset.part ? section.dataset.part.replace(/^endpoints\./, "").replace(/\./g, "-") : section.dataset.endpoint;
    const target = request
      ? document.getElementById("tp-req-" + request)
      : document.getElementById("tp-modal");
    if (!target) return;
    const top = target.getBoundingClientRect().top - panel.getBoundingClientRect().top + panel.scrollTop;
    panel.scrollTo({ top: Math.max(0, top - 8), behavior: "smooth" });
  });

  // ---------------------------------------------------------------- start
  if (window.CodeFields) window.CodeFields.init(form);
  applyWhen(form);
  applyProblems();
  applySummaryState();
})();
