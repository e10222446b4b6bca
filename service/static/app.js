// The page: upload a photo (pick, drop or paste), show the answer and the overlay, tune how it is drawn.

import {
  ApiError,
  deletePrediction,
  fetchModels,
  fetchPrediction,
  fetchReadiness,
  overlayUrl,
  predict,
} from "./api.js";
import * as history from "./history.js";

const $ = (id) => document.getElementById(id);
const main = $("main");
const fileInput = $("file");
const alpha = $("alpha");
const colormap = $("colormap");
const maps = $("maps");
const overlay = $("overlay");
const photo = $("photo");
const download = $("download");
const modelSelect = $("model");

const DEBOUNCE_MS = 250; // a slider drag fires many inputs; only ask the server for the one it settles on
let current = null; // the stored result on screen
let photoUrl = null; // blob: URL of the uploaded photo, revoked when replaced
let keepsPhotos = true; // false when the server keeps nothing: answers then carry their overlay inline
let defaultModel = null; // the name of the model that answers when none is named (from GET /models)
let modelClasses = {}; // each served model's classes, by name

const percent = (p) => `${(p * 100).toFixed(1)}%`;

function debounce(fn, ms) {
  let timer;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

function announce(text) {
  $("status").textContent = text;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function setBusy(busy) {
  main.setAttribute("aria-busy", String(busy));
  $("busy").hidden = !busy;
  $("dropzone").classList.toggle("disabled", busy);
  for (const control of main.querySelectorAll("input, select, button")) control.disabled = busy;
}

function selectedClass() {
  return maps.querySelector("input:checked")?.value || null;
}

function updateOverlay() {
  if (!current) return;
  const url = overlayUrl(current, {
    alpha: Number(alpha.value),
    colormap: colormap.value,
    className: selectedClass(),
    box: Boolean(current.zoom?.used),
  });
  overlay.classList.add("loading");
  overlay.src = url;
  download.href = url;
  download.download = `camserve-${current.id}-overlay.png`;
}
const updateOverlaySoon = debounce(updateOverlay, DEBOUNCE_MS);

function radio(value, text, checked) {
  const label = document.createElement("label");
  const input = document.createElement("input");
  Object.assign(input, { type: "radio", name: "map", value, checked });
  input.addEventListener("change", updateOverlay);
  label.append(input, ` ${text}`);
  return label;
}

function renderMaps(names) {
  const keep = selectedClass();
  maps.querySelectorAll("label").forEach((label) => label.remove());
  const all = names.length === 2 ? "Both" : `All ${names.length}`;
  maps.append(radio("", `${all}, weighted by probability`, !names.includes(keep)));
  for (const name of names) maps.append(radio(name, `Only “${name}”`, name === keep));
}

function renderBars(result) {
  const bars = $("bars");
  bars.replaceChildren();
  for (const [name, p] of Object.entries(result.probabilities)) {
    const item = document.createElement("li");
    item.classList.toggle("winner", name === result.label);
    const fill = document.createElement("span");
    fill.className = "fill";
    fill.style.width = percent(p);
    const track = document.createElement("span");
    track.className = "track";
    track.append(fill);
    const nameEl = document.createElement("span");
    nameEl.textContent = name;
    const value = document.createElement("span");
    value.textContent = percent(p);
    item.append(nameEl, track, value);
    bars.append(item);
  }
}

function show(result, localPhoto) {
  $("label").textContent = result.label;
  $("answered-by").textContent = `Answered by ${result.model.name} ${result.model.version}.`;
  $("untrained").hidden = result.model.trained;
  renderBars(result);
  $("zoom-note").hidden = !result.zoom?.used;
  for (const img of [photo, overlay]) Object.assign(img, { width: result.width, height: result.height });
  photo.closest("figure").hidden = false;
  if (result.overlay_png) {
    // Kept nowhere: the one overlay the server drew comes inline, and there is nothing to redraw.
    current = null;
    photo.src = localPhoto;
    overlay.src = `data:image/png;base64,${result.overlay_png}`;
    download.href = overlay.src;
    download.download = "camserve-overlay.png";
  } else {
    current = result;
    renderMaps(Object.keys(result.probabilities));
    // Reopened results have no local file; the overlay at opacity 0 is the photo itself.
    photo.src = localPhoto ?? overlayUrl(result, { alpha: 0, colormap: colormap.value });
    updateOverlay();
  }
  $("controls").hidden = !current;
  $("result").hidden = false;
  $("result-heading").focus();
  const caveat = result.model.trained ? "" : " (untrained demo model: this means nothing)";
  announce(`The model says ${result.label}, ${percent(result.confidence)} sure${caveat}.`);
  renderHistory();
}

async function withBusy(doing, work) {
  showError("");
  $("busy-text").textContent = doing;
  setBusy(true);
  announce(doing);
  try {
    await work();
  } catch (error) {
    announce("");
    showError(error instanceof ApiError ? error.message : "Something went wrong in this page. Please reload it.");
    if (!(error instanceof ApiError)) console.error(error);
  } finally {
    setBusy(false);
  }
}

function upload(file) {
  if (!file) return;
  return withBusy("Looking at your photo…", async () => {
    const model = modelSelect.value && modelSelect.value !== defaultModel ? modelSelect.value : null;
    const result = await predict(file, { keep: keepsPhotos, model });
    if (photoUrl) URL.revokeObjectURL(photoUrl);
    photoUrl = URL.createObjectURL(file);
    if (result.id) history.remember(result, file.name || "pasted image");
    show(result, photoUrl);
  });
}

function reopen(id) {
  return withBusy("Opening that result…", async () => {
    try {
      show(await fetchPrediction(id), null);
    } catch (error) {
      if (error.status === 404) {
        history.forget(id);
        renderHistory();
      }
      throw error;
    }
  });
}

function remove(item) {
  return withBusy("Deleting that photo from the server…", async () => {
    await deletePrediction(item.id);
    history.forget(item.id);
    if (current?.id === item.id) {
      current = null;
      $("result").hidden = true;
    }
    renderHistory();
    announce(`Deleted ${item.name} from the server.`);
  });
}

function renderHistory() {
  const items = history.load();
  $("history-empty").hidden = items.length > 0;
  $("history").replaceChildren(
    ...items.map((item) => {
      const button = document.createElement("button");
      button.type = "button";
      const model = item.model && item.model !== defaultModel ? ` · ${item.model}` : "";
      button.textContent = `${item.label} (${percent(item.confidence)}) · ${item.name}${model} · ${new Date(item.at).toLocaleString()}`;
      button.setAttribute("aria-current", String(item.id === current?.id));
      button.addEventListener("click", () => reopen(item.id));
      const deleteButton = document.createElement("button");
      deleteButton.type = "button";
      deleteButton.className = "delete";
      deleteButton.textContent = "Delete";
      deleteButton.setAttribute("aria-label", `Delete ${item.name} from the server`);
      deleteButton.addEventListener("click", () => remove(item));
      const entry = document.createElement("li");
      entry.append(button, deleteButton);
      return entry;
    }),
  );
}

function duration(seconds) {
  const units = [
    [86400, "day"],
    [3600, "hour"],
    [60, "minute"],
  ];
  for (const [size, name] of units) {
    if (seconds >= size) {
      const count = Math.round(seconds / size);
      return `${count} ${name}${count === 1 ? "" : "s"}`;
    }
  }
  return `${Math.round(seconds)} seconds`;
}

function describeClasses(name) {
  const classes = modelClasses[name] ?? [];
  $("model-classes").textContent = classes.length ? `It answers one of: ${classes.join(", ")}.` : "";
}

// A choice of model only when the server serves more than one; the default is selected first.
function renderModels(listing) {
  if (!listing?.models?.length) return;
  defaultModel = listing.default;
  modelClasses = Object.fromEntries(listing.models.map((model) => [model.name, model.classes]));
  modelSelect.replaceChildren(
    ...listing.models.map((model) => {
      const option = document.createElement("option");
      option.value = model.name;
      const what = model.classes.length === 2 ? model.classes.join(" or ") : `${model.classes.length} classes`;
      option.textContent = `${model.name} (${what})${model.default ? ", the default" : ""}`;
      option.selected = model.default;
      return option;
    }),
  );
  describeClasses(modelSelect.value);
  $("model-choice").hidden = listing.models.length < 2;
  renderHistory(); // entries from other models say which
}

function describeStorage(storage) {
  keepsPhotos = storage.keeps_photos;
  if (!storage.keeps_photos) return "This server keeps nothing: your photo is looked at, answered and forgotten.";
  if (storage.retention_s) {
    return `Photos are kept on the server for ${duration(storage.retention_s)}, then deleted. You can delete yours sooner under “Your recent photos”.`;
  }
  return "Photos are kept on the server until space runs out. You can delete yours under “Your recent photos”.";
}

function wireDropAndPaste() {
  const dropzone = $("dropzone");
  // Anywhere on the page accepts a drop, and a missed drop must not navigate away from the page.
  window.addEventListener("dragover", (event) => {
    event.preventDefault();
    dropzone.classList.add("dragging");
  });
  window.addEventListener("dragleave", (event) => {
    if (!event.relatedTarget) dropzone.classList.remove("dragging");
  });
  window.addEventListener("drop", (event) => {
    event.preventDefault();
    dropzone.classList.remove("dragging");
    if (main.getAttribute("aria-busy") !== "true") upload(event.dataTransfer?.files[0]);
  });
  document.addEventListener("paste", (event) => {
    const file = event.clipboardData?.files[0];
    if (file && main.getAttribute("aria-busy") !== "true") {
      event.preventDefault();
      upload(file);
    }
  });
}

fileInput.addEventListener("change", () => {
  upload(fileInput.files[0]);
  fileInput.value = ""; // choosing the same file again must upload again
});
alpha.addEventListener("input", () => {
  $("alpha-value").textContent = `${Math.round(alpha.value * 100)}%`;
  updateOverlaySoon();
});
colormap.addEventListener("change", updateOverlaySoon);
modelSelect.addEventListener("change", () => describeClasses(modelSelect.value));
$("controls").addEventListener("submit", (event) => event.preventDefault());
for (const event of ["load", "error"]) overlay.addEventListener(event, () => overlay.classList.remove("loading"));
overlay.addEventListener("error", () => {
  if (current) showError("The heatmap picture could not be loaded. Please try again.");
});
// Most browsers cannot show a HEIC (Safari can): the photo is then shown as the server drew it, upright (the
// overlay at opacity 0). An answer with nothing stored has no such picture; its overlay alone is shown.
photo.addEventListener("error", () => {
  if (current && photo.src.startsWith("blob:")) {
    photo.src = overlayUrl(current, { alpha: 0, colormap: colormap.value });
  } else {
    photo.closest("figure").hidden = true;
  }
});
wireDropAndPaste();
renderHistory();
fetchModels().then(renderModels);
fetchReadiness().then((readiness) => {
  if (readiness?.model && !readiness.model.trained) $("untrained").hidden = false;
  if (readiness?.storage) $("retention").textContent = describeStorage(readiness.storage);
});
