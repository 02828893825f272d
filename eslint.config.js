import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: ['dist', 'client/dist', 'coverage', '.tap', 'node_modules']
  }),
  // The mutants are code held as strings: '${...}' in them is meant.
  { files: ['scripts/mutants.js'], rules: { 'no-template-curly-in-string': 'off' } },
  // Type tests: `void expr` checks that an expression compiles, and nothing more.
  { files: ['test/fixtures/consumer/**'], rules: { 'no-void': 'off' } }
]
