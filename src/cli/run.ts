/** `clipwise run`: not built yet — tracked in issue 3 (streaming topology). */
export async function runCommand(argv: string[]): Promise<number> {
  void argv;
  process.stderr.write('clipwise: this command is not built yet (issue 3 (streaming topology)).\n');
  return 1;
}
