/** `clipwise modelInfo`: not built yet — tracked in issue 2 (model info). */
export async function modelInfoCommand(argv: string[]): Promise<number> {
  void argv;
  process.stderr.write('clipwise: this command is not built yet (issue 2 (model info)).\n');
  return 1;
}
