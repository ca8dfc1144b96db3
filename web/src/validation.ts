// Sign-up rules, the same as the auth server's (Better Auth defaults: a password of 8 to 128
// characters; a syntactically valid email; a name).

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 128;

export interface SignUpFields {
  name: string;
  email: string;
  password: string;
  confirm: string;
}
export type FieldErrors<T> = Partial<Record<keyof T, string>>;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function emailError(email: string): string | undefined {
  if (!email.trim()) return 'Enter your email address.';
  if (!EMAIL.test(email.trim())) return 'Enter an email address like name@example.com.';
  return undefined;
}

export function passwordError(password: string): string | undefined {
  if (!password) return 'Choose a password.';
  if (password.length < PASSWORD_MIN) return `Use at least ${PASSWORD_MIN} characters.`;
  if (password.length > PASSWORD_MAX) return `Use at most ${PASSWORD_MAX} characters.`;
  return undefined;
}

export function validateSignUp(f: SignUpFields): FieldErrors<SignUpFields> {
  const errors: FieldErrors<SignUpFields> = {};
  if (!f.name.trim()) errors.name = 'Enter your name.';
  const e = emailError(f.email);
  if (e) errors.email = e;
  const p = passwordError(f.password);
  if (p) errors.password = p;
  if (!f.confirm) errors.confirm = 'Repeat the password.';
  else if (f.confirm !== f.password) errors.confirm = 'The passwords do not match.';
  return errors;
}

/** Puts a Better Auth error next to the field it concerns. */
export function serverErrorField(code: string | undefined): 'email' | 'password' | 'form' {
  const c = (code ?? '').toUpperCase();
  if (c.includes('PASSWORD')) return 'password';
  if (c.includes('EMAIL') || c.includes('USER_ALREADY_EXISTS')) return 'email';
  return 'form';
}
