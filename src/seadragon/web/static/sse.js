// Reading the gateway's text/event-stream from a fetch body, line by line.
import { readLines } from "/static/lines.js";

const QUEUE_COMMENT = /queue position=(\d+)(?:\s+eta_s=([\d.]+))?(?:\s+state=(\w+))?/;

/**
 * Parse ": queue position=3 eta_s=12.0 state=paused" → {ahead: 3, etaS: 12, paused: true}
 * (eta and state may be missing), or null for other comments.
 */
export function parseQueueComment(comment) {
  const match = QUEUE_COMMENT.exec(comment);
  if (!match) return null;
  return {
    ahead: Number(match[1]),
    etaS: match[2] === undefined ? null : Number(match[2]),
    paused: match[3] === "paused",
  };
}

const STARTED_COMMENT = /^started band=([\w-]+)/;

/** Parse ": started band=normal" → "normal" (the band the request ran in), or null. */
export function parseStartedComment(comment) {
  const match = STARTED_COMMENT.exec(comment);
  return match ? match[1] : null;
}

/**
 * Feed every SSE line of `response` to the handlers until the stream ends:
 * onComment(text) for ": …" lines, onData(text) for "data: …" lines.
 * Returns when the body is finished; throws AbortError when the fetch is aborted.
 */
export async function readEventStream(response, { onComment, onData }) {
  await readLines(response, (line) => {
    if (line.endsWith("\r")) line = line.slice(0, -1);
    if (line.startsWith(":")) onComment(line.slice(1).trim());
    else if (line.startsWith("data:")) onData(line.slice(5).trimStart());
  });
}
