/** `clipwise synth`: not built yet — tracked in issue 4 (benchmark generator). */
export async function synthCommand(argv: string[]): Promise<number> {
  void argv;
  process.stderr.write('clipwise: this command is not built yet (issue 4 (benchmark generator)).\n');
  return 1;
}
