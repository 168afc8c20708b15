/** `clipwise train`: not built yet — tracked in issue 4 (training). */
export async function trainCommand(argv: string[]): Promise<number> {
  void argv;
  process.stderr.write('clipwise: this command is not built yet (issue 4 (training)).\n');
  return 1;
}
