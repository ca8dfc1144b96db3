// The services every component uses, created once per app or widget instance.
import { createContext, useContext } from 'react';
import type { ChatApi } from './api';
import type { AuthClient, TokenSource } from './auth';
import type { ChatConfig } from './config';

export interface Services {
  config: ChatConfig;
  auth: AuthClient;
  tokens: TokenSource;
  api: ChatApi;
}

export const ServicesContext = createContext<Services | null>(null);

export function useServices(): Services {
  const s = useContext(ServicesContext);
  if (!s) throw new Error('ServicesContext is missing');
  return s;
}
