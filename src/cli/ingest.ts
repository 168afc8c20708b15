/** `clipwise ingest`: not built yet — tracked in issue 3 (ingest role). */
export async function ingestCommand(argv: string[]): Promise<number> {
  void argv;
  process.stderr.write('clipwise: this command is not built yet (issue 3 (ingest role)).\n');
  return 1;
}
