/** A job's run form, generated from its parameters' JSON Schema, and the errors shown by it. */

import { h } from "./dom.js";

let formCount = 0;

function kindOf(schema) {
  if (Array.isArray(schema.enum)) return "enum";
  if (schema.type === "boolean") return "boolean";
  if (schema.type === "array") return "list";
  if (schema.type === "integer" || schema.type === "number") return "number";
  if (schema.type === "string" && schema.format === "date") return "date";
  return "text";
}

/**
 * The help line of a parameter, in words: its `description` from the config, else what its
 * schema asks for (a range, a pattern); null when there is nothing to say.
 */
function helpText(schema) {
  const { minimum: low, maximum: high } = schema;
  let range = null;
  if (low !== undefined && high !== undefined) range = `From ${low} to ${high}.`;
  else if (low !== undefined) range = `At least ${low}.`;
  else if (high !== undefined) range = `At most ${high}.`;
  const sentence = (text) => (/[.!?]$/.test(text) ? text : `${text}.`);
  const parts = [schema.description ? sentence(schema.description) : null, range];
  if (!schema.description && schema.pattern) parts.push(`Must match the pattern ${schema.pattern}`);
  const text = parts.filter(Boolean).join(" ");
  return text || null;
}

function helpLine(id, schema) {
  const text = helpText(schema);
  return text ? h("p", { class: "help", id: `${id}-help` }, text) : null;
}

/** One parameter: its labelled input(s), its help and error lines, and how to read its value. */
function field(prefix, name, schema, required) {
  const id = `${prefix}-${name}`;
  const errorId = `${id}-error`;
  const error = h("p", { class: "field-error", id: errorId, "aria-live": "polite" });
  const help = helpLine(id, schema);
  const describedBy = help ? `${help.id} ${errorId}` : errorId;
  const mark = required ? h("span", { class: "required", "aria-hidden": "true", title: "required" }, "*") : null;
  const common = { id, name, "aria-describedby": describedBy, required, "aria-required": required ? "true" : false };
  const kind = kindOf(schema);
  let control;
  let read;
  if (kind === "enum") {
    const options = schema.enum.map((value) =>
      h("option", { value: String(value), selected: value === schema.default }, String(value)),
    );
    const blank = schema.default === undefined ? h("option", { value: "", selected: true }, "—") : null;
    control = h("select", common, blank, options);
    read = () => (control.value === "" ? undefined : schema.enum.find((v) => String(v) === control.value));
  } else if (kind === "boolean") {
    // `required` on a checkbox would mean "must be ticked": a required flag is sent either way.
    control = h("input", { ...common, required: false, "aria-required": false, type: "checkbox", checked: schema.default === true });
    read = () => control.checked;
  } else if (kind === "list") {
    return listField(id, name, schema, required, mark, error, help);
  } else {
    const type = { date: "date", number: "number" }[kind] ?? "text";
    const attrs = { ...common, type, value: schema.default ?? "" };
    if (kind === "number") Object.assign(attrs, { step: schema.type === "integer" ? 1 : "any", min: schema.minimum, max: schema.maximum, inputmode: "numeric" });
    control = h("input", attrs);
    read = () => {
      const raw = control.value;
      if (raw === "") return undefined;
      if (kind !== "number") return raw;
      const number = Number(raw);
      return Number.isFinite(number) ? number : raw; // the service says what is wrong with it
    };
  }
  const label = h("label", { for: id }, name, mark);
  return { name, element: h("div", { class: "field" }, label, control, help, error), read, error, controls: () => [control] };
}

/** A list parameter: one text input per item ("args 1", "args 2"), with add and remove. */
function listField(id, name, schema, required, mark, error, help) {
  const items = h("div", { class: "list-items" });
  const renumber = () =>
    items.querySelectorAll("input").forEach((input, i) => input.setAttribute("aria-label", `${name} ${i + 1}`));
  const add = (value = "") => {
    const input = h("input", { type: "text", value, "aria-describedby": help ? `${help.id} ${error.id}` : error.id });
    const row = h("div", { class: "list-item" }, input,
      h("button", { type: "button", class: "small", "aria-label": `Remove ${name} item`,
        onclick: () => { row.remove(); renumber(); } }, "×"));
    items.append(row);
    renumber();
    return input;
  };
  for (const value of Array.isArray(schema.default) ? schema.default : []) add(String(value));
  const legendId = `${id}-legend`;
  const group = h("div", { role: "group", id, "aria-labelledby": legendId, class: "list" }, items,
    h("button", { type: "button", class: "small", onclick: () => add().focus() }, `Add ${name} item`));
  const controls = () => [...items.querySelectorAll("input")];
  const read = () => {
    const values = controls().map((input) => input.value).filter((value) => value !== "");
    return values.length || required ? values : undefined;
  };
  const legend = h("span", { class: "legend", id: legendId }, name, mark);
  return { name, element: h("div", { class: "field" }, legend, group, help, error), read, error, controls };
}

/** A form for free parameters (a job without a schema): one JSON object. */
function freeField(prefix) {
  const id = `${prefix}-params`;
  const error = h("p", { class: "field-error", id: `${id}-error`, "aria-live": "polite" });
  const control = h("textarea", { id, name: "params", rows: 2, placeholder: '{"name": "value"}', "aria-describedby": error.id });
  const read = () => {
    const text = control.value.trim();
    if (!text) return undefined;
    try {
      return JSON.parse(text);
    } catch {
      throw Object.assign(new Error("params must be a JSON object"), { field: "params" });
    }
  };
  return { name: "params", free: true, element: h("div", { class: "field" }, h("label", { for: id }, "params"), control, error), read, error, controls: () => [control] };
}

/**
 * The form of `job`: `element`, `params()` (the values to send), `showError(error)` (a 400's
 * message beside each field it names, the rest under the form) and `clear()`.
 */
export function runForm(job, onRun) {
  formCount += 1;
  const prefix = `f${formCount}`;
  const schema = job.params;
  const required = new Set(schema?.required ?? []);
  const fields = schema == null
    ? [freeField(prefix)]
    : Object.entries(schema.properties ?? {}).map(([name, sub]) => field(prefix, name, sub, required.has(name)));
  const formError = h("p", { class: "form-error", role: "alert" });
  const button = h("button", { type: "submit", class: "primary" }, "Run");
  const form = h("form", { novalidate: true, "aria-label": `Run ${job.key}` },
    fields.length ? fields.map((f) => f.element) : h("p", { class: "muted" }, "No parameters."),
    formError, button);

  const clear = () => {
    formError.textContent = "";
    for (const f of fields) {
      f.error.textContent = "";
      for (const control of f.controls()) control.removeAttribute("aria-invalid");
    }
  };
  const params = () => {
    if (schema == null) return fields[0].read() ?? {};
    const values = {};
    for (const f of fields) {
      const value = f.read();
      if (value !== undefined) values[f.name] = value;
    }
    return values;
  };
  const showError = (error) => {
    const byName = new Map(fields.map((f) => [f.name, f]));
    const rest = [];
    for (const { field: name, message } of error.fields ?? []) {
      const f = byName.get(name);
      if (!f) {
        rest.push(`${name}: ${message}`);
        continue;
      }
      f.error.textContent = message;
      for (const control of f.controls()) control.setAttribute("aria-invalid", "true");
    }
    formError.textContent = error.fields?.length && !rest.length ? "" : [error.message, ...rest].join(" ");
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear();
    button.disabled = true;
    try {
      await onRun(params());
    } catch (error) {
      if (error.field) showError({ message: error.message, fields: [{ field: error.field, message: error.message }] });
      else showError(error);
    } finally {
      button.disabled = false;
    }
  });
  return { element: form, params, showError, clear };
}
