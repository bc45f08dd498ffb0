// The house-price form: built from GET /models/boston, sent to POST /predict/price?explain=true.
import { callApi, postJson, showError, clear, el, scrollBehavior } from "./api.js";

const $ = (id) => document.getElementById(id);
const dollars = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", maximumFractionDigits: 0 });
const thousands = new Intl.NumberFormat("en-US", {
  style: "currency", currency: "USD", maximumFractionDigits: 0, signDisplay: "exceptZero",
});

let card = null;
let exampleIndex = 0;

/** One feature as the card describes it: {description, unit, min, max, integer, trainingMin, trainingMax}. */
function domainOf(name) {
  const d = (card.features && card.features[name]) || {};
  const given = (v) => (v === null || v === undefined ? undefined : Number(v));
  return {
    description: d.description || "",
    unit: d.unit || "",
    min: given(d.minimum),
    max: given(d.maximum),
    integer: Boolean(d.integer),
    trainingMin: given(d.training_min),
    trainingMax: given(d.training_max),
  };
}

function featureNames() {
  return card.input.features;
}

function buildField(name) {
  const d = domainOf(name);
  const wrap = el("div", "field");
  const id = `f-${name}`;
  const label = el("label");
  label.htmlFor = id;
  label.append(el("span", "code", name), `: ${d.description || name}`);
  if (d.unit) label.append(" ", el("span", "unit", `(${d.unit})`));
  const input = el("input");
  Object.assign(input, { id, name, type: "number", required: true, inputMode: d.integer ? "numeric" : "decimal" });
  input.step = d.integer ? "1" : "any";
  if (d.min !== undefined) input.min = String(d.min);
  if (d.max !== undefined) input.max = String(d.max);
  const help = el("span", "range note", rangeText(d));
  help.id = `${id}-range`;
  const msg = el("span", "field-error");
  msg.id = `${id}-error`;
  msg.setAttribute("role", "alert");
  input.setAttribute("aria-describedby", `${help.id} ${msg.id}`);
  input.addEventListener("input", () => {
    setFieldError(input, "");
    $("price-result").classList.add("stale"); // the shown price no longer matches the form
  });
  wrap.append(label, input, help, msg);
  return wrap;
}

function rangeText(d) {
  const parts = [];
  if (d.min !== undefined && d.max !== undefined) parts.push(`allowed ${d.min} to ${d.max}`);
  else if (d.min !== undefined) parts.push(`at least ${d.min}`);
  else if (d.max !== undefined) parts.push(`at most ${d.max}`);
  if (d.integer) parts.push("whole number");
  if (d.trainingMin !== undefined && d.trainingMax !== undefined) {
    parts.push(`seen in training ${d.trainingMin} to ${d.trainingMax}`);
  }
  return parts.join("; ");
}

function setFieldError(input, message) {
  const msg = $(`${input.id}-error`);
  msg.textContent = message;
  input.setAttribute("aria-invalid", message ? "true" : "false");
}

/** Validate like the API does: a finite number inside the feature's domain. Returns values or null. */
function readForm() {
  const values = {};
  let firstBad = null;
  for (const name of featureNames()) {
    const input = $(`f-${name}`);
    const d = domainOf(name);
    const raw = input.value.trim();
    const value = Number(raw);
    let problem = "";
    if (raw === "" || input.validity.badInput) problem = `${name} needs a number.`;
    else if (!Number.isFinite(value)) problem = `${name} must be a finite number.`;
    else if (d.min !== undefined && value < d.min) problem = `${name} must be at least ${d.min}.`;
    else if (d.max !== undefined && value > d.max) problem = `${name} must be at most ${d.max}.`;
    else if (d.integer && !Number.isInteger(value)) problem = `${name} must be a whole number.`;
    setFieldError(input, problem);
    if (problem && !firstBad) firstBad = input;
    values[name] = value;
  }
  if (firstBad) {
    firstBad.focus();
    return null;
  }
  return values;
}

function fillExample(i) {
  const examples = card.examples || [];
  if (!examples.length) return;
  exampleIndex = ((i % examples.length) + examples.length) % examples.length;
  const ex = examples[exampleIndex];
  for (const name of featureNames()) {
    const input = $(`f-${name}`);
    input.value = String(ex.features[name]);
    setFieldError(input, "");
  }
  const actual = ex.MEDV !== undefined ? `; its real median value was ${dollars.format(ex.MEDV * 1000)}` : "";
  $("price-example-note").textContent =
    `Real tract ${exampleIndex + 1} of ${examples.length} from the test data${actual}.`;
}

/** Put the API's per-field complaints (if any) next to the fields they name. */
function showFieldDetails(details) {
  if (!Array.isArray(details)) return false;
  let shown = false;
  for (const item of details) {
    const loc = (item && (item.loc || item.field)) || [];
    const name = Array.isArray(loc) ? loc[loc.length - 1] : loc;
    const input = typeof name === "string" ? $(`f-${name}`) : null;
    if (input) {
      setFieldError(input, `The service rejected ${name}: ${item.msg || item.message || "invalid value"}.`);
      shown = true;
    }
  }
  return shown;
}

function renderResult(res) {
  $("price-value").textContent = dollars.format(res.price_usd ?? res.price * 1000);
  $("price-value").dataset.priceUsd = String(res.price_usd);
  $("price-value").dataset.price = String(res.price);
  const m = res.model || {};
  $("price-meta").textContent = `${res.price.toFixed(2)} in the data's unit ($1000s of 1970s dollars)` +
    (m.name ? ` · model ${m.name} ${m.version || ""}` : "");
  const warnings = clear($("price-warnings"));
  for (const w of res.warnings || []) warnings.append(el("li", null, w));
  warnings.hidden = !(res.warnings || []).length;
  renderExplanation(res.explanation);
  $("price-result").classList.remove("stale");
  $("price-result").hidden = false;
  $("price-value").scrollIntoView({ block: "nearest", behavior: scrollBehavior() });
}

function renderExplanation(explanation) {
  const figure = $("price-explain");
  if (!explanation || !explanation.contributions) {
    figure.hidden = true;
    return;
  }
  const entries = Object.entries(explanation.contributions).sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
  const scale = Math.max(...entries.map(([, v]) => Math.abs(v)), 1e-9);
  $("price-explain-caption").textContent = "Why this price: the model starts from " +
    `${dollars.format(explanation.baseline * 1000)} (every feature at its lowest value in the training data); ` +
    "each feature then adds (green) or takes away (orange):";
  const bars = clear($("price-bars"));
  for (const [name, value] of entries) {
    const row = el("div", "bar-row");
    row.setAttribute("role", "listitem");
    const track = el("div", "track diverging");
    const bar = el("div", value >= 0 ? "bar pos" : "bar neg");
    bar.style.width = `${(Math.abs(value) / scale) * 50}%`;
    track.append(bar);
    row.append(el("span", "bar-label code", name), track, el("span", "bar-value", thousands.format(value * 1000)));
    row.title = `${name}: ${domainOf(name).description}`;
    bars.append(row);
  }
  figure.hidden = false;
}

async function submit(event) {
  event.preventDefault();
  showError($("price-error"), null);
  const values = readForm();
  if (!values) {
    showError($("price-error"), { message: "Please fix the highlighted fields." });
    return;
  }
  const button = $("price-submit");
  button.disabled = true;
  button.textContent = "Estimating…";
  try {
    renderResult(await postJson("/predict/price?explain=true", values));
  } catch (err) {
    $("price-result").hidden = true;
    showFieldDetails(err.details);
    showError($("price-error"), err);
  } finally {
    button.disabled = false;
    button.textContent = "Estimate price";
  }
}

async function loadCard() {
  showError($("price-card-error"), null);
  try {
    card = await callApi("/models/boston");
  } catch (err) {
    $("price-model").textContent = "The price model is not available.";
    showError($("price-card-error"), err);
    if (!err.status || err.status === 503) setTimeout(loadCard, 5000); // down or warming up: retry
    return;
  }
  const fields = clear($("price-fields"));
  for (const name of featureNames()) fields.append(buildField(name));
  const metrics = card.metrics || {};
  const rmse = metrics.test_rmse !== undefined ? ` · typical error ±${dollars.format(metrics.test_rmse * 1000)}` : "";
  $("price-model").textContent = `Model ${card.name} ${card.version}${rmse} on held-out houses.`;
  fillExample(0);
  $("price-submit").disabled = false;
  $("price-example").disabled = !(card.examples || []).length;
}

export function initPrice() {
  $("price-form").addEventListener("submit", submit);
  $("price-example").addEventListener("click", () => {
    fillExample(exampleIndex + 1);
    $("price-form").requestSubmit(); // one click, one priced example
  });
  loadCard();
}
