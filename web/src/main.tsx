// The full-page app (index.html).
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { ChatApp, ServicesProvider } from './App';
import { appConfig } from './config';
import './styles.css';

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <ServicesProvider config={appConfig()}>
        <main className="cp-root">
          <ChatApp variant="page" />
        </main>
      </ServicesProvider>
    </StrictMode>,
  );
}
