import { describe, expect, it } from 'vitest';
import { readSse, type SseEvent } from './sse';

function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(enc.encode(ch));
      c.close();
    },
  });
}

async function all(chunks: string[]): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  for await (const e of readSse(streamOf(chunks))) out.push(e);
  return out;
}

const WIRE =
  ': keep-alive\n\nevent: sources\ndata: {"session_id":"s1","sources":[]}\n\n' +
  'event: delta\ndata: {"text":"Hel"}\n\nevent: delta\ndata: {"text":"lo ✓"}\n\n' +
  'event: done\ndata: {"message":"Hello ✓"}\n\n';

describe('readSse', () => {
  it('yields named events in order and skips comments', async () => {
    expect(await all([WIRE])).toEqual([
      { event: 'sources', data: '{"session_id":"s1","sources":[]}' },
      { event: 'delta', data: '{"text":"Hel"}' },
      { event: 'delta', data: '{"text":"lo ✓"}' },
      { event: 'done', data: '{"message":"Hello ✓"}' },
    ]);
  });

  it('gives the same events however the bytes are split', async () => {
    const whole = await all([WIRE]);
    const bytes = new TextEncoder().encode(WIRE);
    for (const size of [1, 2, 3, 7, 13]) {
      const parts: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; i += size) parts.push(bytes.slice(i, i + size));
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          for (const p of parts) c.enqueue(p);
          c.close();
        },
      });
      const got: SseEvent[] = [];
      for await (const e of readSse(stream)) got.push(e);
      expect(got, `chunks of ${size} bytes`).toEqual(whole);
    }
  });

  it('handles CRLF line ends and multi-line data, and drops an event cut off before its blank line', async () => {
    expect(await all(['event: delta\r\ndata: a\r\n', 'data: b\r\n\r', '\nevent: done\ndata: x'])).toEqual([
      { event: 'delta', data: 'a\nb' },
    ]);
  });

  it('calls an unnamed event "message"', async () => {
    expect(await all(['data: plain\n\n'])).toEqual([{ event: 'message', data: 'plain' }]);
  });
});
