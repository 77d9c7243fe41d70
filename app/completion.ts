/**
 * Shell completion: the scripts for bash, zsh and fish, and the candidates they ask for. The scripts
 * call `localport __complete INDEX WORD...` on every Tab, so what is completed — commands, options,
 * formats, service names and tags from the config — is always the installed LocalPort's and the
 * current directory's config's.
 */

export type Shell = 'bash' | 'zsh' | 'fish';
export const SHELLS: readonly Shell[] = ['bash', 'zsh', 'fish'];

/** One command as completion sees it. */
export interface CommandSpec {
  path: string[];
  options: { names: string[]; takesValue: boolean }[];
  /** What its operands are: service names (`run db api`), command paths (`help`), shells, or none. */
  operands: 'services' | 'service' | 'commands' | 'shells' | 'none';
}

/** What the config offers, when it can be read (it may not resolve: completion must not fail then). */
export interface CompletionSource {
  services: string[];
  tags: string[];
  formats: string[];
  logLevels: string[];
}

/** The answer that tells the shell script to complete file names itself. */
export const FILES = ':files';

/**
 * The candidates for the word at `index` of `words` (the words after `localport`), or FILES. The shell
 * script filters them by what was typed.
 */
export function candidates(specs: CommandSpec[], words: string[], index: number, source: CompletionSource): string[] | typeof FILES {
  const before = words.slice(0, index);
  const current = words[index] ?? '';
  const all = specs.filter((s) => s.path.length > 0 && !s.path[0].startsWith('_'));
  // Which command the words so far name: the longest path whose words come first, options skipped.
  const plain: string[] = [];
  let afterDoubleDash = false;
  let valueOf: { names: string[] } | undefined;
  const optionOf = (word: string) => all.flatMap((s) => s.options).find((o) => o.names.includes(word.split('=')[0]));
  for (const w of before) {
    if (afterDoubleDash) continue;
    if (w === '--') {
      afterDoubleDash = true;
      continue;
    }
    if (valueOf) {
      valueOf = undefined;
      continue;
    }
    if (w.startsWith('-')) {
      const o = optionOf(w);
      if (o?.takesValue && !w.includes('=')) valueOf = o;
      continue;
    }
    plain.push(w);
  }
  // `run … -- COMMAND`: the shell's own completion.
  if (afterDoubleDash) return FILES;
  const spec = [...all].sort((a, b) => b.path.length - a.path.length).find((s) => s.path.every((p, i) => plain[i] === p));
  if (valueOf) return valueCandidates(valueOf.names, source);
  if (current.startsWith('-')) {
    const options = spec ? spec.options : all.flatMap((s) => s.options).filter((o) => o.names.some((n) => ['--config', '--output', '--json', '--log-level', '--color', '--help', '--version'].includes(n)));
    // `--no-color` is `--color`'s negation, which clipanion accepts without declaring it.
    const names = options.flatMap((o) => o.names.filter((n) => n.startsWith('--'))).flatMap((n) => (n === '--color' ? [n, '--no-color'] : [n]));
    return [...new Set([...names, ...(spec ? ['--help'] : ['--help', '--version'])])];
  }
  // A command path not finished yet: the next words of the paths that start with what was typed.
  const operandsSoFar = spec ? plain.slice(spec.path.length) : plain;
  const next = all.filter((s) => s.path.length > plain.length && plain.every((w, i) => s.path[i] === w)).map((s) => s.path[plain.length]);
  if (!spec || spec.operands === 'none') return [...new Set(next)];
  switch (spec.operands) {
    case 'services':
      return source.services.filter((n) => !operandsSoFar.includes(n));
    case 'service':
      return operandsSoFar.length ? [] : source.services;
    case 'shells':
      return operandsSoFar.length ? [] : [...SHELLS];
    case 'commands': {
      const deeper = all.filter((s) => s.path.length > operandsSoFar.length && operandsSoFar.every((w, i) => s.path[i] === w)).map((s) => s.path[operandsSoFar.length]);
      return [...new Set(deeper)];
    }
  }
}

function valueCandidates(names: string[], source: CompletionSource): string[] | typeof FILES {
  if (names.includes('--config')) return FILES;
  if (names.includes('--output')) return source.formats;
  if (names.includes('--tag')) return source.tags;
  if (names.includes('--log-level')) return source.logLevels;
  return [];
}

/** The script a user sources (`source <(localport completion bash)`), or installs. */
export function completionScript(shell: Shell): string {
  switch (shell) {
    case 'bash':
      return `# localport completion for bash. Load it in ~/.bashrc:
#   source <(localport completion bash)
_localport_complete() {
  local IFS=$'\\n' cur="\${COMP_WORDS[COMP_CWORD]}" candidates
  candidates=$(localport __complete "$((COMP_CWORD - 1))" "\${COMP_WORDS[@]:1}" 2>/dev/null) || return 0
  if [[ "$candidates" == "${FILES}" ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))
  else
    # Not compgen -W: it expands each word ($(…), backticks), and the candidates come from a config file.
    # Each is inserted quoted (%q), as bash quotes file names: a tag '$(cmd)' lands as \$\(cmd\), a word.
    # No candidates is one empty line here, which %q would make '' (inserted as a word).
    COMPREPLY=()
    local c
    while IFS= read -r c; do
      [[ -n "$c" && "$c" == "$cur"* ]] && printf -v c '%q' "$c" && COMPREPLY+=("$c")
    done <<< "$candidates"
  fi
  return 0
}
complete -o default -F _localport_complete localport
`;
    case 'zsh':
      return `#compdef localport
# localport completion for zsh. Load it in ~/.zshrc (after compinit):
#   source <(localport completion zsh)
_localport() {
  local -a candidates
  candidates=("\${(@f)$(localport __complete "$((CURRENT - 2))" "\${(@)words[2,-1]}" 2>/dev/null)}")
  if [[ "\${candidates[1]}" == "${FILES}" ]]; then
    _files
  else
    compadd -- "\${candidates[@]}"
  fi
}
compdef _localport localport
`;
    case 'fish':
      return `# localport completion for fish. Load it in ~/.config/fish/config.fish, or save it as
# ~/.config/fish/completions/localport.fish:
#   localport completion fish | source
function __localport_complete
  set -l words (commandline -opc) (commandline -ct)
  set -l candidates (localport __complete (math (count $words) - 2) $words[2..-1] 2>/dev/null)
  if test "$candidates[1]" = "${FILES}"
    __fish_complete_path (commandline -ct)
  else
    printf '%s\\n' $candidates
  end
end
complete -c localport -f -a '(__localport_complete)'
`;
  }
}
