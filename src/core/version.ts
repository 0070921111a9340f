/** Replaced at bundle time by scripts/build.mjs from package.json. */
declare const __NESTBOX_VERSION__: string | undefined;
export const VERSION: string = typeof __NESTBOX_VERSION__ === 'string' ? __NESTBOX_VERSION__ : '0.1.0-dev';
