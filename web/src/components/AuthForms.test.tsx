import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { ServicesContext, type Services } from '../context';
import { validateSignUp } from '../validation';
import { SignInForm, SignUpForm } from './AuthForms';

function withAuth(auth: Partial<Services['auth']>) {
  const services = { auth, config: { apiUrl: 'http://api', authUrl: 'http://auth' } } as unknown as Services;
  return ({ children }: { children: React.ReactNode }) => <ServicesContext.Provider value={services}>{children}</ServicesContext.Provider>;
}

describe('validateSignUp', () => {
  it('names every bad field', () => {
    expect(validateSignUp({ name: '', email: 'x', password: 'short', confirm: 'other' })).toEqual({
      name: 'Enter your name.',
      email: 'Enter an email address like name@example.com.',
      password: 'Use at least 8 characters.',
      confirm: 'The passwords do not match.',
    });
    expect(validateSignUp({ name: 'A', email: 'a@b.co', password: '12345678', confirm: '12345678' })).toEqual({});
    expect(validateSignUp({ name: 'A', email: 'a@b.co', password: 'x'.repeat(129), confirm: 'x'.repeat(129) }).password).toBe(
      'Use at most 128 characters.',
    );
  });
});

describe('SignUpForm', () => {
  it('checks fields as the user types', async () => {
    const user = userEvent.setup();
    render(<SignUpForm />, { wrapper: withAuth({}) });
    const email = screen.getByLabelText('Email');
    await user.type(email, 'someone');
    expect(email.getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByText('Enter an email address like name@example.com.')).toBeTruthy();
    await user.type(email, '@example.com');
    expect(email.getAttribute('aria-invalid')).toBeNull();

    const password = screen.getByLabelText('Password');
    await user.type(password, 'abc');
    expect(screen.getByText('Use at least 8 characters.')).toBeTruthy();
    await user.type(password, 'defgh');
    expect(screen.queryByText('Use at least 8 characters.')).toBeNull();

    await user.type(screen.getByLabelText('Confirm password'), 'abcdefgX');
    expect(screen.getByText('The passwords do not match.')).toBeTruthy();
  });

  it('does not submit an invalid form', async () => {
    const user = userEvent.setup();
    const email = vi.fn();
    render(<SignUpForm />, { wrapper: withAuth({ signUp: { email } } as never) });
    await user.click(screen.getByRole('button', { name: 'Create account' }));
    expect(email).not.toHaveBeenCalled();
    expect(screen.getByText('Enter your name.')).toBeTruthy();
  });

  it("shows the server's error next to the field it concerns", async () => {
    const user = userEvent.setup();
    const email = vi.fn(async () => ({ error: { code: 'USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL', message: 'User already exists. Use another email.', status: 422 } }));
    render(<SignUpForm />, { wrapper: withAuth({ signUp: { email } } as never) });
    await user.type(screen.getByLabelText('Name'), 'Ann');
    await user.type(screen.getByLabelText('Email'), 'ann@example.com');
    await user.type(screen.getByLabelText('Password'), 'correct-horse');
    await user.type(screen.getByLabelText('Confirm password'), 'correct-horse');
    await user.click(screen.getByRole('button', { name: 'Create account' }));
    expect(email).toHaveBeenCalledWith({ name: 'Ann', email: 'ann@example.com', password: 'correct-horse' });
    const field = screen.getByLabelText('Email');
    const message = document.getElementById(field.getAttribute('aria-describedby') ?? '');
    expect(message?.textContent).toBe('User already exists. Use another email.');
  });
});

describe('SignInForm', () => {
  it('shows a wrong password under the password field', async () => {
    const user = userEvent.setup();
    const email = vi.fn(async () => ({ error: { code: 'INVALID_EMAIL_OR_PASSWORD', message: 'Invalid email or password', status: 401 } }));
    render(<SignInForm />, { wrapper: withAuth({ signIn: { email } } as never) });
    await user.type(screen.getByLabelText('Email'), 'ann@example.com');
    await user.type(screen.getByLabelText('Password'), 'wrong-password');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    const field = screen.getByLabelText('Password');
    expect(field.getAttribute('aria-invalid')).toBe('true');
    expect(document.getElementById(field.getAttribute('aria-describedby') ?? '')?.textContent).toBe('Invalid email or password');
  });
});
