import { act, render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { ApiError, type StreamEvent } from '../api';
import { SignedOutError } from '../auth';
import { ServicesContext, type Services } from '../context';
import { Chat } from './Chat';

function setup(ask: (...a: unknown[]) => AsyncGenerator<StreamEvent>, signedIn = true) {
  const api = { ask: vi.fn(ask), messages: vi.fn(async () => ({ items: [], next: null })) };
  const services = { api, auth: {}, tokens: {}, config: {} } as unknown as Services;
  const props = {
    conversationId: null,
    onConversation: vi.fn(),
    onAnswered: vi.fn(),
    onSignedOut: vi.fn(),
    quote: null,
    clearQuote: vi.fn(),
  };
  render(
    <ServicesContext.Provider value={services}>
      <Chat signedIn={signedIn} {...props} />
    </ServicesContext.Provider>,
  );
  return { api, props };
}

async function send(text: string) {
  const user = userEvent.setup();
  await user.type(screen.getByLabelText('Your question'), text);
  await user.keyboard('{Enter}');
}

describe('Chat', () => {
  it('shows the sign-in prompt instead of the input when signed out', () => {
    const services = { api: {}, auth: { signIn: {}, signUp: {} } } as unknown as Services;
    render(
      <ServicesContext.Provider value={services}>
        <Chat signedIn={false} conversationId={null} onConversation={vi.fn()} onAnswered={vi.fn()} onSignedOut={vi.fn()} quote={null} clearQuote={vi.fn()} />
      </ServicesContext.Provider>,
    );
    expect(screen.queryByLabelText('Your question')).toBeNull();
    expect(screen.getByRole('heading', { name: 'Sign in to ask the documentation' })).toBeTruthy();
  });

  it('streams an answer in, with its sources, and reports the new conversation', async () => {
    const { props, api } = setup(async function* () {
      yield { type: 'sources', session_id: 'c-1', sources: [{ title: 'RAG', heading: 'Streaming', url: 'https://d/RAG#streaming' }] };
      yield { type: 'delta', text: '| a | b |\n|---|---|\n' };
      yield { type: 'delta', text: '| 1 | 2 |' };
      yield { type: 'done', message: '| a | b |\n|---|---|\n| 1 | 2 |', session_id: 'c-1', message_id: 'm-1', sources: [{ title: 'RAG', heading: 'Streaming', url: 'https://d/RAG#streaming' }] };
    });
    await send('what streams?');
    expect(api.ask.mock.calls[0][0]).toEqual({ query: 'what streams?' });
    expect(await screen.findByRole('table')).toBeTruthy();
    expect(screen.getByRole('link', { name: 'RAG › Streaming' }).getAttribute('href')).toBe('https://d/RAG#streaming');
    expect(props.onConversation).toHaveBeenCalledWith('c-1');
    expect((screen.getByLabelText('Your question') as HTMLTextAreaElement).value).toBe('');
  });

  it('keeps the question after a 502 and says the model failed', async () => {
    setup(async function* () {
      throw new ApiError(502, 'model failed');
    });
    await send('why?');
    expect((await screen.findByRole('alert')).textContent).toBe('The model failed to answer. Your question was kept; try again.');
    expect((screen.getByLabelText('Your question') as HTMLTextAreaElement).value).toBe('why?');
    expect(screen.getByText('why?', { selector: '.cp-question' })).toBeTruthy();
  });

  it('waits out a 429 with the Retry-After countdown', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      setup(async function* () {
        throw new ApiError(429, 'slow down', 3);
      });
      await send('again?');
      expect((await screen.findByRole('alert')).textContent).toMatch(/ask again in [23] s/);
      expect(screen.getByRole('button', { name: 'Send' }).hasAttribute('disabled')).toBe(true);
      await act(async () => {
        vi.advanceTimersByTime(4000);
      });
      expect(screen.queryByRole('alert')).toBeNull();
      expect(screen.getByRole('button', { name: 'Send' }).hasAttribute('disabled')).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });

  it('asks to sign in again on a 401 that a fresh token did not cure', async () => {
    const { props } = setup(async function* () {
      throw new SignedOutError();
    });
    await send('hello');
    expect((await screen.findByRole('alert')).textContent).toBe('Your session has ended. Sign in again to go on.');
    expect(props.onSignedOut).toHaveBeenCalled();
  });

  it('says so when offline and does not send', async () => {
    const { api } = setup(async function* () {});
    await act(async () => {
      Object.defineProperty(navigator, 'onLine', { value: false, configurable: true });
      window.dispatchEvent(new Event('offline'));
    });
    expect(screen.getByRole('alert').textContent).toMatch(/You are offline/);
    await send('anyone?');
    expect(api.ask).not.toHaveBeenCalled();
    Object.defineProperty(navigator, 'onLine', { value: true, configurable: true });
  });
});
