/** `clipwise eval`: not built yet — tracked in issue 4 (evaluation). */
export async function evalCommand(argv: string[]): Promise<number> {
  void argv;
  process.stderr.write('clipwise: this command is not built yet (issue 4 (evaluation)).\n');
  return 1;
}
