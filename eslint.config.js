import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'data/', 'node_modules/', 'coverage/', '.tmp-review/', '.tmp-smoke/', 'test/.snippets/', 'artifacts/'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    files: ['examples/**', 'bench/**', 'test/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // The explorer page's script runs in the browser as it is: no build, no types.
    files: ['eslint.config.js', 'vitest.config.ts', 'src/http/explorer/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
