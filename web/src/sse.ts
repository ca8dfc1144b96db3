// A server-sent events reader over fetch's body (EventSource cannot send Authorization).
// Handles chunks split anywhere, CR/LF/CRLF, multi-line data and comments (keep-alives).

export interface SseEvent {
  event: string;
  data: string;
}

export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, nl);
        const sep = buffer[nl] === '\r' && buffer[nl + 1] === '\n' ? 2 : 1;
        // A lone '\r' at the end of a chunk may be the first half of '\r\n': wait for more.
        if (!done && sep === 1 && buffer[nl] === '\r' && nl === buffer.length - 1) break;
        buffer = buffer.slice(nl + sep);
        if (line === '') {
          if (data.length) yield { event: event || 'message', data: data.join('\n') };
          event = '';
          data = [];
        } else if (!line.startsWith(':')) {
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          let val = colon < 0 ? '' : line.slice(colon + 1);
          if (val.startsWith(' ')) val = val.slice(1);
          if (field === 'event') event = val;
          else if (field === 'data') data.push(val);
        }
      }
      // As the spec says, an event cut off before its blank line is not dispatched.
      if (done) return;
    }
  } finally {
    reader.releaseLock();
  }
}
