// This browser's recent predictions, kept in localStorage (ids only point at results on the server).

const KEY = "camserve.history";
const LIMIT = 12;

export function load() {
  try {
    const items = JSON.parse(localStorage.getItem(KEY) ?? "[]");
    return Array.isArray(items) ? items : [];
  } catch {
    return [];
  }
}

function save(items) {
  try {
    localStorage.setItem(KEY, JSON.stringify(items.slice(0, LIMIT)));
  } catch {
    // Storage full or disabled (private mode): the page still works, it just forgets.
  }
}

export function remember(result, name) {
  const entry = {
    id: result.id,
    label: result.label,
    confidence: result.confidence,
    name,
    at: result.created_at,
    model: result.model.name,
  };
  save([entry, ...load().filter((item) => item.id !== result.id)]);
}

export function forget(id) {
  save(load().filter((item) => item.id !== id));
}
