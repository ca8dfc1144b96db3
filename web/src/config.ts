// Runtime configuration: never baked into the build. The app reads window.CHATPLANE_CONFIG
// (from /config.js, written by the server); the widget reads its script tag's data attributes.

export interface ChatConfig {
  /** Base URL of chatplane-api, without a trailing slash. */
  apiUrl: string;
  /** Base URL of the Better Auth server, without a trailing slash. */
  authUrl: string;
}

declare global {
  interface Window {
    CHATPLANE_CONFIG?: { apiUrl?: string; authUrl?: string };
  }
}

const trim = (u: string) => u.replace(/\/+$/, '');

/** Resolves possibly relative or empty URLs against `base`. */
export function resolveConfig(raw: { apiUrl?: string | null; authUrl?: string | null }, base: string): ChatConfig {
  const abs = (u: string | null | undefined) => trim(new URL(u && u.trim() ? u.trim() : '/', base).href);
  return { apiUrl: abs(raw.apiUrl), authUrl: abs(raw.authUrl ?? raw.apiUrl) };
}

export function appConfig(): ChatConfig {
  return resolveConfig(window.CHATPLANE_CONFIG ?? {}, window.location.origin);
}
