/**
 * "Billion laughs" in YAML: `levels` anchors under `key`, each a list of `width` aliases of the one
 * before, so 9 levels of 9 expand to 9^8 × 9 leaves while the file stays a few hundred bytes.
 */
export function aliasBombYaml(levels = 9, width = 9, key = 'services'): string {
  const lines = [`${key}:`, `  a0: &a0 [${Array(width).fill('"lol"').join(', ')}]`];
  for (let i = 1; i < levels; i++) lines.push(`  a${i}: &a${i} [${Array(width).fill(`*a${i - 1}`).join(', ')}]`);
  return `${lines.join('\n')}\n`;
}
