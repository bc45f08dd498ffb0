// The digit panel: draw on a canvas (Pointer Events: mouse, pen, touch) or upload a file,
// then POST /predict/digit?debug=true. The canvas is sent as dark ink on white, PNG;
// the service inverts, crops and centres it the way MNIST digits are.
import { callApi, postFile, showError, clear, el, scrollBehavior } from "./api.js";

const $ = (id) => document.getElementById(id);
const INK = "#111";
const PAPER = "#fff";

let canvas, ctx;
let drawing = null; // the pointerId of the stroke in progress
let last = null; // {x, y} in canvas pixels
let inked = false;

function resetCanvas() {
  ctx.fillStyle = PAPER;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = INK;
  ctx.fillStyle = INK;
  ctx.lineWidth = canvas.width / 13; // ~22 px on 280: MNIST strokes are ~2 px of 28
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  inked = false;
  document.getElementById("digit-hint").hidden = false;
}

function toCanvas(event) {
  const rect = canvas.getBoundingClientRect();
  return {
    x: ((event.clientX - rect.left) / rect.width) * canvas.width,
    y: ((event.clientY - rect.top) / rect.height) * canvas.height,
  };
}

function onDown(event) {
  if (drawing !== null || (event.pointerType === "mouse" && event.button !== 0)) return;
  event.preventDefault();
  drawing = event.pointerId;
  canvas.setPointerCapture(event.pointerId);
  last = toCanvas(event);
  ctx.beginPath(); // a dot for a single tap
  ctx.arc(last.x, last.y, ctx.lineWidth / 2, 0, 2 * Math.PI);
  ctx.fill();
  inked = true;
  $("digit-hint").hidden = true;
  $("digit-result").classList.add("stale"); // the answer shown is for the drawing before this stroke
  showError($("digit-error"), null);
}

function onMove(event) {
  if (event.pointerId !== drawing) return;
  event.preventDefault();
  // Coalesced events give the full resolution of fast pen and touch strokes.
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  ctx.beginPath();
  ctx.moveTo(last.x, last.y);
  for (const e of events.length ? events : [event]) {
    last = toCanvas(e);
    ctx.lineTo(last.x, last.y);
  }
  ctx.stroke();
}

function onUp(event) {
  if (event.pointerId !== drawing) return;
  drawing = null;
  last = null;
}

// The drawing is sent with a margin of paper around it. A stroke that runs to the canvas's edge
// would otherwise touch the picture's border, where the service looks for things that are not the
// digit (a table strip, a pen): a 4 drawn from top to bottom lost its stem and read 1.
const MARGIN = 0.1; // of the canvas's width, on each side

function canvasBlob() {
  const margin = Math.round(canvas.width * MARGIN);
  const sheet = document.createElement("canvas");
  sheet.width = canvas.width + 2 * margin;
  sheet.height = canvas.height + 2 * margin;
  const sheetCtx = sheet.getContext("2d");
  sheetCtx.fillStyle = PAPER;
  sheetCtx.fillRect(0, 0, sheet.width, sheet.height);
  sheetCtx.drawImage(canvas, margin, margin);
  return new Promise((resolve, reject) => {
    sheet.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("the canvas could not be encoded"))),
      "image/png");
  });
}

async function recognise(blobPromise, filename, source) {
  const button = $("digit-recognise");
  button.disabled = true;
  showError($("digit-error"), null);
  $("digit-panel").setAttribute("aria-busy", "true");
  try {
    const blob = await blobPromise;
    const res = await postFile("/predict/digit?debug=true", blob, filename);
    renderResult(res, source);
  } catch (err) {
    $("digit-result").hidden = true;
    showError($("digit-error"), err);
  } finally {
    button.disabled = false;
    $("digit-panel").removeAttribute("aria-busy");
  }
}

/** A probability as a percentage; "> 99.9%" rather than a rounded, overconfident "100.0%". */
function percent(p) {
  return p >= 0.9995 && p < 1 ? "> 99.9%" : `${(p * 100).toFixed(1)}%`;
}

function renderResult(res, source) {
  $("digit-value").textContent = String(res.digit);
  $("digit-confidence").textContent = percent(res.confidence);
  if (res.input_image) {
    $("digit-seen").src = `data:image/png;base64,${res.input_image}`;
  }
  $("digit-seen").parentElement.hidden = !res.input_image;
  const bars = clear($("digit-bars"));
  res.probabilities.forEach((p, digit) => {
    const row = el("div", digit === res.digit ? "bar-row best" : "bar-row");
    row.setAttribute("role", "listitem");
    row.dataset.digit = String(digit);
    const track = el("div", "track");
    const bar = el("div", "bar");
    bar.style.width = `${Math.max(p * 100, 0)}%`;
    track.append(bar);
    row.append(el("span", "bar-label", String(digit)), track, el("span", "bar-value", percent(p)));
    bars.append(row);
  });
  const m = res.model || {};
  $("digit-meta").textContent = `From ${source}` + (m.name ? ` · model ${m.name} ${m.version || ""}` : "");
  $("digit-result").classList.remove("stale");
  $("digit-result").hidden = false;
  $("digit-value").scrollIntoView({ block: "nearest", behavior: scrollBehavior() });
}

function recogniseCanvas() {
  if (!inked) {
    showError($("digit-error"), { message: "Draw a digit first (or upload an image)." });
    return;
  }
  recognise(canvasBlob(), "drawing.png", "your drawing");
}

function recogniseFile(file) {
  if (!file) return;
  if (file.type && !file.type.startsWith("image/")) {
    showError($("digit-error"), { message: `${file.name} is not an image (${file.type}).` });
    return;
  }
  recognise(Promise.resolve(file), file.name, file.name);
}

function setUpDrop() {
  // The whole panel takes drops; elsewhere a dropped file must not replace the page.
  const zone = $("digit-panel");
  for (const type of ["dragover", "drop"]) window.addEventListener(type, (e) => e.preventDefault());
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (e) => {
      e.preventDefault();
      zone.classList.add("over");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    zone.addEventListener(type, () => zone.classList.remove("over"));
  }
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) recogniseFile(file);
    else showError($("digit-error"), { message: "Drop an image file (nothing usable was dropped)." });
  });
}

/** Name the model and its test accuracy, or say why it is not available. */
async function loadCard() {
  try {
    const card = await callApi("/models/mnist");
    const accuracy = card.metrics && card.metrics.test_accuracy;
    $("digit-model").textContent = `Model ${card.name} ${card.version}` +
      (accuracy !== undefined ? ` · ${(accuracy * 100).toFixed(1)}% right on 10,000 held-out MNIST digits.` : ".");
  } catch (err) {
    $("digit-model").textContent = `The digit model is not available: ${err.message}`;
    if (!err.status || err.status === 503) setTimeout(loadCard, 5000); // down or warming up: retry
  }
}

export function initDigit() {
  loadCard();
  canvas = $("digit-canvas");
  ctx = canvas.getContext("2d");
  resetCanvas();
  canvas.addEventListener("pointerdown", onDown);
  canvas.addEventListener("pointermove", onMove);
  canvas.addEventListener("pointerup", onUp);
  canvas.addEventListener("pointercancel", onUp);
  // A finger on the canvas draws: no scroll, zoom or other gesture may start from it.
  for (const type of ["touchstart", "touchmove"]) {
    canvas.addEventListener(type, (e) => e.preventDefault(), { passive: false });
  }
  $("digit-clear").addEventListener("click", () => {
    resetCanvas();
    $("digit-result").hidden = true;
    showError($("digit-error"), null);
  });
  $("digit-recognise").addEventListener("click", recogniseCanvas);
  $("digit-file").addEventListener("change", (e) => {
    recogniseFile(e.target.files[0]);
    e.target.value = ""; // choosing the same file again should send it again
  });
  setUpDrop();
}
