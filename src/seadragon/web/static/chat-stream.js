// One streamed answer from /v1/chat/completions: queue place, band, tokens, usage.
import { authHeaders, errorFrom } from "/static/api.js";
import { parseQueueComment, parseStartedComment, readEventStream } from "/static/sse.js";

function handleData(data, view, outcome, onChunk) {
  if (data === "[DONE]") {
    outcome.done = true;
    return;
  }
  let chunk;
  try {
    chunk = JSON.parse(data);
  } catch {
    return; // a malformed line must not end a good answer
  }
  if (chunk.error) {
    outcome.error = chunk.error.message || "The request failed.";
    return;
  }
  for (const choice of chunk.choices ?? []) view.append(choice.delta?.content ?? "");
  if (chunk.usage) outcome.usage = chunk.usage;
  onChunk();
}

/**
 * Stream the answer to `request` ({model, messages, temperature?, max_tokens?}) into
 * `view`; resolves with {done, error, usage}; throws ApiError or AbortError.
 */
export async function streamAnswer(view, request, { controller, requestId, onChunk = () => {} }) {
  const response = await fetch("/v1/chat/completions", {
    method: "POST",
    credentials: "same-origin",
    signal: controller.signal,
    headers: authHeaders("POST", {
      Accept: "text/event-stream",
      "Content-Type": "application/json",
      "X-Request-Id": requestId,
    }),
    body: JSON.stringify({ ...request, stream: true, stream_options: { include_usage: true } }),
  });
  if (!response.ok) throw await errorFrom(response);
  const entryBand = response.headers.get("X-Seadragon-Band");
  view.started(null, entryBand);
  const outcome = { done: false, error: null, usage: null };
  await readEventStream(response, {
    onComment: (comment) => {
      const place = parseQueueComment(comment);
      if (place) view.waiting(place);
      const band = parseStartedComment(comment);
      if (band) view.started(band, entryBand);
    },
    onData: (data) => handleData(data, view, outcome, onChunk),
  });
  return outcome;
}

/** A readable sentence for a failed request. */
export function describe(error) {
  if (error.status === 429) {
    const wait = error.retryAfter ? ` Try again in about ${Math.ceil(error.retryAfter)} s.` : "";
    return `The queue is full: ${error.message}.${wait}`;
  }
  if (error.status) return `Error ${error.status}: ${error.message}`;
  return "Lost the connection to the gateway before the answer was complete.";
}

/** The messages sent to the model: the system prompt, then every stored turn. */
export function messagesFor(settings, turns) {
  const messages = settings.system_prompt ? [{ role: "system", content: settings.system_prompt }] : [];
  for (const turn of turns) {
    if (turn.images?.length) {
      const parts = turn.images.map((url) => ({ type: "image_url", image_url: { url } }));
      messages.push({ role: turn.role, content: [{ type: "text", text: turn.content }, ...parts] });
    } else messages.push({ role: turn.role, content: turn.content });
  }
  return messages;
}
