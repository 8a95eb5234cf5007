import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isSecretKey, maskSecrets, maskSecretsInString, maskedValue } from '../../src/pipeline/mask-secrets.js';

const MASK = /\[masked:sha256:[0-9a-f]{12}\]/;

describe('maskSecrets', () => {
  it('masks as [masked:sha256:<first 12 hex of sha256>]', () => {
    const hex = createHash('sha256').update('hunter2').digest('hex').slice(0, 12);
    expect(maskedValue('hunter2')).toBe(`[masked:sha256:${hex}]`);
  });

  it.each([
    ['password', 'hunter2'],
    ['api_key', 'abc'],
    ['apiKey', 'abc'],
    ['X-Api-Key', 'abc'],
    ['Authorization', 'Basic dXNlcjpwYXNz'],
    ['client_secret', 'abc'],
    ['access_token', 'abc'],
    ['refreshToken', 'abc'],
    ['aws_secret_access_key', 'abc'],
    ['private_key', 'abc'],
    ['cookie', 'a=b'],
  ])('masks the value of secret-looking key %s whole', (key, value) => {
    const out = maskSecrets({ [key]: value, other: 'kept' }) as Record<string, unknown>;
    expect(out[key]).toBe(maskedValue(value));
    expect(out['other']).toBe('kept');
  });

  it('masks non-string values of secret keys too, and leaves token counts alone', () => {
    const out = maskSecrets({ token: { nested: 1 }, pin: 1234, max_tokens: 50, tokenizer: 'bpe' }) as Record<string, unknown>;
    expect(out['token']).toMatch(MASK);
    expect(out['pin']).toMatch(MASK);
    expect(out['max_tokens']).toBe(50);
    expect(out['tokenizer']).toBe('bpe');
    expect(isSecretKey('author')).toBe(false);
  });

  it.each([
    ['AWS access key id', 'key AKIAIOSFODNN7EXAMPLE here'],
    ['GitHub classic token', `ghp_${'a'.repeat(36)}`],
    ['GitHub fine-grained token', `github_pat_${'A1_'.repeat(10)}`],
    ['Slack token', 'xoxb-123456789012-abcdefghij'],
    ['OpenAI key', `sk-proj-${'x'.repeat(40)}`],
    ['JWT', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U'],
    ['PEM private key', '-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----'],
  ])('masks a %s inside strings', (_label, secret) => {
    const out = maskSecretsInString(`before ${secret} after`);
    expect(out).toMatch(MASK);
    expect(out.startsWith('before ')).toBe(true);
    expect(out.endsWith(' after')).toBe(true);
    expect(out).not.toContain(secret);
  });

  it('keeps the Bearer scheme word and masks the token', () => {
    expect(maskSecretsInString('Authorization: Bearer abcdef0123456789')).toMatch(/^Authorization: Bearer \[masked:sha256:[0-9a-f]{12}\]$/);
  });

  it('walks arrays and nested objects, and leaves ordinary text untouched', () => {
    const input = { a: [{ note: `use ghp_${'b'.repeat(36)}` }, 'plain'], n: 1, t: true, z: null };
    const out = maskSecrets(input) as { a: [{ note: string }, string]; n: number };
    expect(out.a[0].note).toMatch(/^use \[masked:sha256:/);
    expect(out.a[1]).toBe('plain');
    expect(out.n).toBe(1);
    expect(input.a[0]).toEqual({ note: `use ghp_${'b'.repeat(36)}` });
  });

  it('does not let a __proto__ key change the copy\'s prototype', () => {
    const out = maskSecrets(JSON.parse('{"__proto__":{"polluted":true}}')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect((out as { polluted?: boolean }).polluted).toBeUndefined();
  });

  it('stays bounded on hostile input: deep nesting and huge strings', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 10_000; i++) deep = [deep];
    expect(() => maskSecrets(deep)).not.toThrow();
    const huge = 'a'.repeat(1_000_000);
    expect(maskSecretsInString(huge)).toMatch(MASK);
    const manyBegins = '-----BEGIN PRIVATE KEY-----'.repeat(5_000);
    const t = Date.now();
    maskSecretsInString(manyBegins);
    expect(Date.now() - t).toBeLessThan(2_000);
  });
});
