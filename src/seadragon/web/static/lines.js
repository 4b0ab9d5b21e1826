// Reading a fetch body line by line as it arrives (the event stream of sse.js, NDJSON).

/**
 * Call onLine(text) for every line of `response`'s body, without its "\n", and for the
 * text after the last newline if any. Returns when the body is finished; throws
 * AbortError when the fetch is aborted.
 */
export async function readLines(response, onLine) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      onLine(buffer.slice(0, newline));
      buffer = buffer.slice(newline + 1);
    }
  }
  buffer += decoder.decode();
  if (buffer) onLine(buffer);
}
