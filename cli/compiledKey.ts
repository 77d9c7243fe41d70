/** Where a run says what it compiled (globals.ts compiledFor), for the code cache (cached.ts): one key for both. */
export const COMMAND_KEY = Symbol.for('localport.compiledFor');
