import type { Project } from './project.js';
import type { DoctorCheck, DoctorOptions, View } from '../core/types.js';

/**
 * `doctor`: asks every technology the config uses (or every registered one, with `all`) whether its
 * prerequisites are met, through the technologies' own `doctor()`; `options.connect` lets them make one
 * real connection per endpoint.
 */
export async function doctorView(project: Project, all = false, options: DoctorOptions = {}): Promise<{ view: View; ok: boolean }> {
  const { hub, config } = project;
  const types = all ? hub.technologies.types() : [...new Set(config.services.map((s) => s.technology))].sort();
  const checks: (DoctorCheck & { technology: string })[] = [];
  await Promise.all(
    types.map(async (type) => {
      const tech = hub.technologies.get(type);
      const services = config.services.filter((s) => s.technology === type);
      if (!tech.doctor) {
        checks.push({ technology: type, name: 'checks', ok: true, required: false, detail: 'this technology has no doctor checks' });
        return;
      }
      try {
        for (const c of await tech.doctor(services, options)) checks.push({ technology: type, ...c });
      } catch (error) {
        checks.push({ technology: type, name: 'doctor', ok: false, required: true, detail: `the check itself failed: ${(error as Error).message}` });
      }
    }),
  );
  checks.sort((a, b) => a.technology.localeCompare(b.technology));
  return { view: { kind: 'doctor', file: config.file ?? null, checks }, ok: checks.every((c) => c.ok || !c.required) };
}
