// ESLint for the hand-written browser scripts in static/js (`make lint`).
//
// They are classic <script defer> files: no bundler, no modules, nothing inline (CSP). Each
// wraps itself in a function so that only what it puts on `window` is shared; htmx (from
// django-htmx) is the one library on the page. The rules beyond `recommended` catch what
// goes wrong in such scripts: a name that leaks onto `window`, a typo that reads a browser
// global instead of a local, loose equality, a binding reassigned by mistake.
const js = require("@eslint/js");
const globals = require("globals");

// Browser globals whose names are also ordinary variable names: a missing parameter or a
// typo silently reads `window.name` or the deprecated `window.event` instead of failing.
const CONFUSING_BROWSER_GLOBALS = [
  "close", "closed", "event", "external", "find", "frames", "length", "name", "open",
  "opener", "origin", "parent", "print", "self", "status", "stop", "top",
];

module.exports = [
  js.configs.recommended,
  {
    files: ["static/js/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "script",
      globals: { ...globals.browser, htmx: "readonly" },
    },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      "array-callback-return": "error",
      eqeqeq: ["error", "always"],
      "no-implicit-globals": "error",
      "no-restricted-globals": ["error", ...CONFUSING_BROWSER_GLOBALS],
      "no-unused-expressions": "error",
      "no-unused-vars": ["error", { args: "after-used", caughtErrors: "all" }],
      "no-use-before-define": ["error", { functions: false, classes: true, variables: false }],
      "no-var": "error",
      "prefer-const": "error",
      strict: ["error", "function"],
    },
  },
  {
    files: ["eslint.config.js"],
    languageOptions: { sourceType: "commonjs", globals: globals.node },
  },
];
