// Talks to the camserve API and turns every failure into a sentence a person can act on.

export class ApiError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.status = status;
  }
}

const MESSAGES = {
  404: "That result is no longer stored on the server. Please upload the photo again.",
  413: "That photo is too large. Please choose a smaller one (fewer pixels or a smaller file).",
  415: "That file is not an image we can read. Please choose a JPEG, PNG, WebP, HEIC or AVIF photo.",
  422: "That photo could not be read; it may be damaged. Please try another one.",
  503: "The server is busy right now. Please try again in a moment.",
};

async function describe(response) {
  const known = MESSAGES[response.status];
  if (known) return known;
  let detail = "";
  try {
    detail = (await response.json()).detail ?? "";
  } catch {
    // Not JSON (a proxy's error page, say): the status alone has to do.
  }
  return `Something went wrong on the server (${response.status}${detail ? `: ${detail}` : ""}). Please try again.`;
}

async function call(url, options) {
  let response;
  try {
    response = await fetch(url, options);
  } catch {
    throw new ApiError("Could not reach the server. Check your connection and try again.");
  }
  if (!response.ok) throw new ApiError(await describe(response), response.status);
  return response.json();
}

// model: a served model's name, or null for the server's default (then the URL names none).
export function predict(file, { keep = true, model = null } = {}) {
  const body = new FormData();
  body.append("file", file);
  const query = new URLSearchParams();
  if (model) query.set("model", model);
  // Kept nowhere: the one overlay comes inline, so ask for the zoom's box on it (nothing drawn without a zoom).
  if (!keep) query.set("store", "false");
  if (!keep) query.set("box", "true");
  const url = query.size ? `/predictions?${query}` : "/predictions";
  return call(url, { method: "POST", body });
}

// The served models (GET /models), or null when they cannot be read: the page then asks the default.
export async function fetchModels() {
  try {
    return await call("/models");
  } catch {
    return null;
  }
}

// Deleted, or already gone (deleted elsewhere, expired, evicted): either way it is not on the server any more.
export async function deletePrediction(id) {
  let response;
  try {
    response = await fetch(`/predictions/${encodeURIComponent(id)}`, { method: "DELETE" });
  } catch {
    throw new ApiError("Could not reach the server. Check your connection and try again.");
  }
  if (!response.ok && response.status !== 404) throw new ApiError(await describe(response), response.status);
}

export function fetchPrediction(id) {
  return call(`/predictions/${encodeURIComponent(id)}`);
}

export async function fetchReadiness() {
  // 503 while warming up still carries the model info, so read the body whatever the status.
  try {
    return await (await fetch("/readyz")).json();
  } catch {
    return null;
  }
}

export function overlayUrl(result, { alpha, colormap, className, box = false }) {
  const query = new URLSearchParams({ alpha: String(alpha), colormap });
  if (className) query.set("class", className);
  if (box) query.set("box", "true");
  return `${result.links.overlay}?${query}`;
}
