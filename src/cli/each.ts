/** Apply `fn` to each ref like docker: report each failure, go on, exit 1 if any failed. */
export async function eachRef(refs: string[], fn: (ref: string) => Promise<void>): Promise<void> {
  let failed = false;
  for (const ref of refs) {
    try {
      await fn(ref);
    } catch (err) {
      failed = true;
      process.stderr.write(`Error response from daemon: ${(err as Error).message}\n`);
    }
  }
  if (failed) process.exitCode = 1;
}
