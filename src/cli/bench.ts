/** `clipwise bench`: not built yet — tracked in issue 6 (benchmark). */
export async function benchCommand(argv: string[]): Promise<number> {
  void argv;
  process.stderr.write('clipwise: this command is not built yet (issue 6 (benchmark)).\n');
  return 1;
}
