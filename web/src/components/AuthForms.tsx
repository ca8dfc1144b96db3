// Sign-up (checked as the user types; the server's errors shown next to their field) and sign-in.
import { useId, useState, type FormEvent } from 'react';
import { useServices } from '../context';
import { Field } from './Field';
import {
  PASSWORD_MIN,
  serverErrorField,
  validateSignUp,
  type FieldErrors,
  type SignUpFields,
} from '../validation';

type AuthResult = { error?: { code?: string; message?: string; status?: number } | null };

function serverErrors(res: AuthResult, fallback: string): FieldErrors<SignUpFields & { form: string }> {
  const e = res.error;
  if (!e) return {};
  const msg = e.status === 429 ? 'Too many attempts; wait a few seconds and try again.' : e.message || fallback;
  return { [serverErrorField(e.code)]: msg };
}

export function SignUpForm({ onDone }: { onDone?: () => void }) {
  const { auth } = useServices();
  const [f, setF] = useState<SignUpFields>({ name: '', email: '', password: '', confirm: '' });
  const [touched, setTouched] = useState<Partial<Record<keyof SignUpFields, boolean>>>({});
  const [server, setServer] = useState<FieldErrors<SignUpFields & { form: string }>>({});
  const [busy, setBusy] = useState(false);
  const errors = validateSignUp(f);
  const shown = (k: keyof SignUpFields) => (touched[k] ? errors[k] : undefined) ?? server[k];

  const set = (k: keyof SignUpFields) => (e: { target: { value: string } }) => {
    setF({ ...f, [k]: e.target.value });
    setTouched({ ...touched, [k]: true });
    setServer({});
  };

  async function submit(e: FormEvent) {
    e.preventDefault();
    setTouched({ name: true, email: true, password: true, confirm: true });
    if (Object.keys(errors).length) return;
    setBusy(true);
    try {
      const res = (await auth.signUp.email({ name: f.name.trim(), email: f.email.trim(), password: f.password })) as AuthResult;
      setServer(serverErrors(res, 'The account could not be created.'));
      if (!res.error) onDone?.();
    } catch {
      setServer({ form: 'The sign-in service cannot be reached. Check your connection and try again.' });
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="cp-form" onSubmit={submit} noValidate aria-label="Create an account">
      <Field label="Name" autoComplete="name" value={f.name} onChange={set('name')} error={shown('name')} />
      <Field label="Email" type="email" autoComplete="email" value={f.email} onChange={set('email')} error={shown('email')} />
      <Field
        label="Password"
        type="password"
        autoComplete="new-password"
        value={f.password}
        onChange={set('password')}
        error={shown('password')}
        hint={`At least ${PASSWORD_MIN} characters.`}
      />
      <Field
        label="Confirm password"
        type="password"
        autoComplete="new-password"
        value={f.confirm}
        onChange={set('confirm')}
        error={shown('confirm')}
      />
      {server.form && (
        <p className="cp-field-error" role="alert">
          {server.form}
        </p>
      )}
      <button type="submit" className="cp-primary" disabled={busy}>
        {busy ? 'Creating account…' : 'Create account'}
      </button>
    </form>
  );
}

export function SignInForm({ onDone }: { onDone?: () => void }) {
  const { auth } = useServices();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<FieldErrors<{ email: string; password: string; form: string }>>({});
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!email.trim() || !password) {
      setError({ ...(email.trim() ? {} : { email: 'Enter your email address.' }), ...(password ? {} : { password: 'Enter your password.' }) });
      return;
    }
    setBusy(true);
    try {
      const res = (await auth.signIn.email({ email: email.trim(), password })) as AuthResult;
      setError(serverErrors(res, 'Sign-in failed.'));
      if (!res.error) onDone?.();
    } catch {
      setError({ form: 'The sign-in service cannot be reached. Check your connection and try again.' });
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="cp-form" onSubmit={submit} noValidate aria-label="Sign in">
      <Field label="Email" type="email" autoComplete="email" value={email} onChange={(e) => { setEmail(e.target.value); setError({}); }} error={error.email} />
      <Field label="Password" type="password" autoComplete="current-password" value={password} onChange={(e) => { setPassword(e.target.value); setError({}); }} error={error.password} />
      {error.form && (
        <p className="cp-field-error" role="alert">
          {error.form}
        </p>
      )}
      <button type="submit" className="cp-primary" disabled={busy}>
        {busy ? 'Signing in…' : 'Sign in'}
      </button>
    </form>
  );
}

/** Sign in or create an account: what replaces the chat input while signed out. */
export function AuthPanel() {
  const [mode, setMode] = useState<'in' | 'up'>('in');
  const titleId = useId();
  return (
    <section className="cp-auth" aria-labelledby={titleId}>
      <h2 id={titleId}>{mode === 'in' ? 'Sign in to ask the documentation' : 'Create an account'}</h2>
      {mode === 'in' ? <SignInForm /> : <SignUpForm />}
      <p className="cp-auth-switch">
        {mode === 'in' ? 'New here? ' : 'Already have an account? '}
        <button type="button" className="cp-link" onClick={() => setMode(mode === 'in' ? 'up' : 'in')}>
          {mode === 'in' ? 'Create an account' : 'Sign in'}
        </button>
      </p>
    </section>
  );
}
