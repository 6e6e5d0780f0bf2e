// Editing the form's shape: rows added from <template> elements, removed and moved (their
// inputs renumbered); optional parts, a request's auth settings and copied error
// classifications fetched from the server as HTML; fields shown by type or by another
// input's value. Every change asks for a preview and an autosave.
(function () {
  "use strict";

  const editor = window.ConfigurationEditor;
  if (!editor) return;
  const { form, post, announce, showNotice } = editor;
  const PATH_ATTRIBUTES = ["name", "id", "for", "aria-describedby", "aria-labelledby", "aria-controls", "data-list", "data-mirror", "data-when"];

  // ---------------------------------------------------------------- changes
  function changed(delay) {
    editor.schedulePreview(delay);
    editor.scheduleSave();
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

  editor.applyWhen = applyWhen;
})();
