import { describe, expect, it } from '@jest/globals';
import { errorView, render } from '../../../app/output.js';
import { builtinHub } from '../../../app/project.js';
import { ConfigError, PluginError, ServiceError } from '../../../core/errors.js';
import { definePlugin } from '../../../core/index.js';
import { Redactor } from '../../../core/redact.js';
import type { View } from '../../../core/types.js';

describe('render, the output boundary', () => {
  it('redacts every view it renders, in every format', async () => {
    const redactor = new Redactor();
    redactor.add('hunter2-secret');
    const hub = await builtinHub(redactor);
    const view: View = { kind: 'reload', config: '/c/localport.yaml', superseded: false, added: ['hunter2-secret'], removed: [], changed: [], unchanged: [] };
    for (const format of ['table', 'json']) {
      const text = render(hub, format, view, false);
      expect(text).not.toContain('hunter2-secret');
      expect(text).toContain('***');
    }
  });

  it('names the formats the registry holds when asked for another', async () => {
    const hub = await builtinHub();
    expect(() => render(hub, 'xml', { kind: 'stop', config: 'c', running: false, stopped: [] }, false)).toThrow("--output must be one of json, table, text (got 'xml')");
  });

  it("reports a formatter that has nothing to say for a view as its plugin's bug", async () => {
    const hub = await builtinHub();
    await hub.use(definePlugin({ name: 'acme-old', apply: (api) => api.registerFormatter({ type: 'old', render: (v) => (v.kind === 'status' ? 'ok' : (undefined as unknown as string)) }) }));
    expect(render(hub, 'old', { kind: 'status', services: [] }, false)).toBe('ok');
    let error: unknown;
    try {
      render(hub, 'old', { kind: 'stop', config: 'c', running: false, stopped: [] }, false);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PluginError);
    expect((error as PluginError).message).toBe("plugin acme-old failed in formatter 'old': it rendered nothing for a 'stop' view; a formatter returns a string for every kind of View");
  });
});

describe('errorView, the error boundary', () => {
  it('gives a user mistake its code and problems, and no stack', () => {
    const view = errorView(new ConfigError([{ file: 'f.yaml', path: 'services', message: 'is required' }], 'Add one.'));
    expect(view).toEqual({ kind: 'error', code: 'CONFIG_INVALID', message: 'f.yaml: services: is required', hint: 'Add one.', problems: [{ file: 'f.yaml', path: 'services', message: 'is required' }], service: undefined });
  });

  it("gives a plugin's bug the stack of what it threw and the plugin to report it to", () => {
    const thrown = new TypeError('x is not a function');
    const view = errorView(new PluginError('acme', 'beforeStart', thrown));
    expect(view).toMatchObject({ code: 'PLUGIN_FAILED', message: 'plugin acme failed in beforeStart: x is not a function', stack: thrown.stack, reportTo: { plugin: 'acme' } });
  });

  it("gives LocalPort's own bug the code INTERNAL and its stack", () => {
    const bug = new RangeError('oops');
    expect(errorView(bug)).toMatchObject({ code: 'INTERNAL', message: 'oops', stack: bug.stack, reportTo: 'localport' });
  });

  it('renders a bug in the table format with its stack and whom to report it to', async () => {
    const hub = await builtinHub();
    const text = render(hub, 'table', errorView(new PluginError('acme', 'beforeStart', new TypeError('boom'))), false);
    expect(text).toMatch(/^error: plugin acme failed in beforeStart: boom\nTypeError: boom\n\s+at /);
    expect(text).toMatch(/Please report it to the plugin's author \(acme\), with the output above\.$/);
  });
});

describe('errorView of a wrapped plugin bug', () => {
  it("keeps the outer code and message, and the stack of the plugin's TypeError", () => {
    const thrown = new TypeError('boom');
    const wrapped = new ServiceError('BEFORE_START_FAILED', 'db', 'service db: plugin acme failed in beforeStart: boom', undefined, new PluginError('acme', 'beforeStart', thrown));
    expect(errorView(wrapped)).toMatchObject({ code: 'BEFORE_START_FAILED', service: 'db', stack: thrown.stack, reportTo: { plugin: 'acme' } });
  });
});
