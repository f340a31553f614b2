import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.baton/', 'test-results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    // Node scripts of the repository (scripts/*.mjs).
    files: ['scripts/**/*.mjs'],
    languageOptions: { globals: { console: 'readonly', process: 'readonly' } },
  },
  {
    // The dashboard's browser modules (served as they are, no build step; typed by JSDoc).
    files: ['src/dashboard/public/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(
        [
          'window',
          'document',
          'location',
          'history',
          'localStorage',
          'EventSource',
          'fetch',
          'performance',
          'setTimeout',
          'clearTimeout',
          'setInterval',
          'queueMicrotask',
          'IntersectionObserver',
          'ResizeObserver',
          'HTMLElement',
          'HTMLButtonElement',
          'HTMLInputElement',
          'HTMLFormElement',
          'HTMLDialogElement',
          'HTMLLIElement',
        ].map((name) => [name, 'readonly']),
      ),
    },
  },
);
